#!/usr/bin/env bash
# macOS: sign the app bundle, put it in a DMG (dmgbuild), sign, notarize and staple the DMG.
#   scripts/macos-sign-and-notarize.sh [APP] [DMG]
#     APP  default: "dist/Video Messaging.app" (build.spec's BUNDLE)
#     DMG  default: dist/Video-Messaging-<version>-macos-<arch>.dmg
# Run it after `python -m PyInstaller --noconfirm build.spec`, on a Mac, with dmgbuild
# installed for $PYTHON (default python3; the release workflow pins dmgbuild==1.6.7).
#
# Everything secret comes from the environment, nothing is stored:
#   CODESIGN_IDENTITY   a "Developer ID Application: ..." identity in the keychain
#   NOTARY_KEYCHAIN_PROFILE                      a profile made by `xcrun notarytool store-credentials`
#   or APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD  (an app-specific password)
# Without CODESIGN_IDENTITY the DMG is built unsigned (for testing: Gatekeeper blocks it on
# other Macs) and the script says so; with an identity but no notary credentials it is
# signed and not notarized, and the script says that too.
#
# Signing follows Apple's "Creating distribution-signed code for macOS"
# (https://developer.apple.com/documentation/xcode/creating-distribution-signed-code-for-the-mac):
# each code item signed on its own, inside out, with the hardened runtime and a secure
# timestamp, no --deep (https://developer.apple.com/forums/thread/129980); the entitlements
# (camera, microphone) go on the two executables and the bundle. Notarization and stapling:
# https://developer.apple.com/documentation/security/customizing-the-notarization-workflow
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "macos-sign-and-notarize: $*" >&2
    exit 1
}

version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' app/__init__.py)"
[ -n "$version" ] || die "no __version__ in app/__init__.py"
app="${1:-dist/Video Messaging.app}"
dmg="${2:-dist/Video-Messaging-$version-macos-$(uname -m).dmg}"
python="${PYTHON:-python3}"
entitlements=packaging/macos/entitlements.plist
identity="${CODESIGN_IDENTITY:-}"

[ "$(uname)" = Darwin ] || die "runs on macOS only (codesign, hdiutil, notarytool)"
[ -d "$app/Contents/MacOS" ] || die "no app bundle at $app (build it: python -m PyInstaller --noconfirm build.spec)"

sign() {
    codesign --force --timestamp --options runtime --sign "$identity" "$@"
}

sign_app() {
    local contents="$app/Contents" path
    # Finder metadata and other extended attributes make codesign refuse ("detritus").
    xattr -cr "$app"
    # 1. Every Mach-O file (libraries, Python extensions, Qt plugins) but the two executables.
    while IFS= read -r -d '' path; do
        case "$path" in
        "$contents/MacOS/video-messaging" | "$contents/MacOS/vmsg") continue ;;
        esac
        if file -b "$path" | grep -q 'Mach-O'; then
            sign "$path"
        fi
    done < <(find "$contents" -type f -print0)
    # 2. Nested framework bundles (Qt's), innermost first (-depth), sealing their resources.
    while IFS= read -r -d '' path; do
        sign "$path"
    done < <(find "$contents" -depth -type d -name '*.framework' -print0)
    # 3. The command line executable, then the bundle (which signs its main executable,
    #    video-messaging), both with the camera and microphone entitlements.
    sign --entitlements "$entitlements" "$contents/MacOS/vmsg"
    sign --entitlements "$entitlements" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"
}

notarize() {
    local auth=() result status id
    if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ]; then
        auth=(--keychain-profile "$NOTARY_KEYCHAIN_PROFILE")
    else
        auth=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
    fi
    echo "macos-sign-and-notarize: submitting $dmg to Apple's notary service (waits for the result)"
    result="$(xcrun notarytool submit "$dmg" "${auth[@]}" --wait --output-format json)"
    status="$(printf '%s' "$result" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("status", ""))')"
    if [ "$status" != "Accepted" ]; then
        id="$(printf '%s' "$result" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))')"
        [ -z "$id" ] || xcrun notarytool log "$id" "${auth[@]}" >&2 || true
        die "notarization ended with status '${status:-unknown}': $result"
    fi
    xcrun stapler staple "$dmg"
    xcrun stapler validate "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose=2 "$dmg"
}

if [ -n "$identity" ]; then
    echo "macos-sign-and-notarize: signing $app as '$identity'"
    sign_app
else
    echo "macos-sign-and-notarize: CODESIGN_IDENTITY is not set: building an UNSIGNED disk image (for testing only)"
fi

mkdir -p "$(dirname "$dmg")"
rm -f "$dmg"
"$python" -m dmgbuild -s packaging/macos/dmg_settings.py -D "app=$app" "Video Messaging" "$dmg"

if [ -z "$identity" ]; then
    echo "macos-sign-and-notarize: $dmg built, not signed and not notarized"
    exit 0
fi
codesign --force --timestamp --sign "$identity" "$dmg"
if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ] ||
    { [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; }; then
    notarize
    echo "macos-sign-and-notarize: $dmg signed, notarized and stapled"
else
    echo "macos-sign-and-notarize: no notary credentials (NOTARY_KEYCHAIN_PROFILE, or APPLE_ID," \
        "APPLE_TEAM_ID and APPLE_APP_PASSWORD): $dmg is signed but NOT notarized"
fi
