"""Kaltura API exceptions as the real server words them (api_v3/lib/KalturaErrors.php,
alpha/apps/kaltura/lib/APIErrors.class.php): ``CODE;ARG,NAMES;message with @ARG@``.

Handlers raise :func:`api_error`; the dispatcher serializes it as an HTTP 200
``KalturaAPIException`` in the requested format.
"""

from __future__ import annotations

# name -> "ARG_NAMES;message template" (the part after "CODE;" in the PHP constants)
_TEMPLATES: dict[str, str] = {
    "INTERNAL_SERVERL_ERROR": ";Internal server error occurred",
    "MISSING_KS": ";Missing KS, session not established",
    "INVALID_KS": 'KSID,ERR_CODE,ERR_DESC;Invalid KS "@KSID@", Error "@ERR_CODE@,@ERR_DESC@"',
    "SERVICE_NOT_SPECIFIED": ";Service name was not specified, please specify one",
    "SERVICE_DOES_NOT_EXISTS": 'SRV_NAME;Service "@SRV_NAME@" does not exists',
    "ACTION_NOT_SPECIFIED": ";Action name was not specified, please specify one",
    "ACTION_DOES_NOT_EXISTS": (
        'ACTION_NAME,SERVICE_NAME;Action "@ACTION_NAME@" does not exists for service '
        '"@SERVICE_NAME@"'
    ),
    "SERVICE_FORBIDDEN": "SERVICE;The access to service [@SERVICE@] is forbidden",
    "MISSING_MANDATORY_PARAMETER": 'PARAM_NAME;Missing parameter "@PARAM_NAME@"',
    "INVALID_OBJECT_TYPE": 'INVALID_OBJ_TYPE;Invalid object type "@INVALID_OBJ_TYPE@"',
    "PROPERTY_VALIDATION_NUMERIC_VALUE": 'PROP_NAME;The property "@PROP_NAME@" must be numeric',
    "PROPERTY_VALIDATION_ADMIN_PROPERTY": (
        'PROP_NAME;The property "@PROP_NAME@" is updatable with admin session only'
    ),
    "UNKNOWN_RESPONSE_FORMAT": (
        "FORMAT;Response format provided [@FORMAT@] is not recognized by server"
    ),
    "START_SESSION_ERROR": "PID;Error while starting session for partner [@PID@]",
    "INVALID_WIDGET_ID": "WIDGET_ID;Invalid widget id [@WIDGET_ID@]",
    "ENTRY_ID_NOT_FOUND": 'ENTRY_ID;Entry id "@ENTRY_ID@" not found',
    "ENTRY_ALREADY_WITH_CONTENT": ";Entry already associated with content",
    "RESOURCE_TYPE_NOT_SUPPORTED": 'RES_TYPE;Resource type "@RES_TYPE@" not supported',
    "PERMISSION_DENIED_TO_UPDATE_ENTRY": (
        ";User can update only the entries he own, otherwise an admin session must be used"
    ),
    "UPLOAD_ERROR": ";Upload failed",
    "UPLOAD_TOKEN_NOT_FOUND": ";Upload token not found",
    "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD": (
        ";Upload token is in an invalid status for uploading a file, maybe the file was "
        "already uploaded"
    ),
    "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY": (
        ";Upload token is in an invalid status for adding entry, maybe the a file was not "
        "uploaded or the token was used"
    ),
    "UPLOAD_TOKEN_CANNOT_RESUME": ";Cannot resume the upload, original file was not found",
    "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE": ";Failed to match expected file size",
    "UPLOAD_TOKEN_MISSING_FILE_SIZE": ";FileSize is mandatory when enabling autoFinalize",
    "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED": (
        "MAX_RESUME_TIME;Max resume time of @MAX_RESUME_TIME@ seconds reached, cannot resume upload"
    ),
    "MAX_ALLOWED_CHUNK_COUNT_EXCEEDED": (
        ";Max allowed waiting chunks to be concatenated has exceeded allowed limit"
    ),
    "APP_TOKEN_ID_NOT_FOUND": 'ID;Application token id "@ID@" not found',
    "APP_TOKEN_NOT_ACTIVE": 'ID;Application token id "@ID@" not active',
    "APP_TOKEN_EXPIRED": 'ID;Application token id "@ID@" expired',
    "INVALID_APP_TOKEN_HASH": ";Invalid application token hash",
    "USER_NOT_FOUND": ";User was not found",
    "LOGIN_DATA_NOT_FOUND": ";Login id not found",
    "USER_WRONG_PASSWORD": ";Wrong password supplied",
    "CATEGORY_NOT_FOUND": 'ID;Category id "@ID@" not found',
    "DUPLICATE_CATEGORY": 'CATEGORY;The category "@CATEGORY@" already exists',
    "CATEGORY_ENTRY_ALREADY_EXISTS": ";The entry has already been assigned to this category",
    "INVALID_ENUM_VALUE": (
        'ENUM_VAL,PARAM_NAME,ENUM_TYPE;Invalid enumeration value "@ENUM_VAL@" for parameter '
        '"@PARAM_NAME@", expecting enumeration type "@ENUM_TYPE@"'
    ),
}

# kSessionBase sub-codes used inside INVALID_KS.
KS_INVALID_STR = ("-1", "INVALID_STR")
KS_INVALID_PARTNER = ("-2", "INVALID_PARTNER")
KS_INVALID_USER = ("-3", "INVALID_USER")
KS_INVALID_TYPE = ("-4", "INVALID_TYPE")
KS_EXPIRED = ("-5", "EXPIRED")


class KalturaAPIException(Exception):
    """An API-level error: serialized as HTTP 200 ``KalturaAPIException``."""

    def __init__(self, code: str, message: str, args: dict[str, str]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.args_map = args


def api_error(name: str, *values: object) -> KalturaAPIException:
    """The named Kaltura error with its ``@ARG@`` placeholders filled from ``values``."""
    arg_names, _, message = _TEMPLATES[name].partition(";")
    names = [n for n in arg_names.split(",") if n]
    args: dict[str, str] = {}
    for i, arg in enumerate(names):
        value = "" if i >= len(values) else str(values[i])
        args[arg] = value
        message = message.replace(f"@{arg}@", value)
    return KalturaAPIException(name, message, args)


def invalid_ks(ks: str, sub: tuple[str, str]) -> KalturaAPIException:
    return api_error("INVALID_KS", ks, sub[0], sub[1])
