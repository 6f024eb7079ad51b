"""The sandbox tenant's directory: users, sender accounts and per-user people lists.

Deterministic from a seed: the same ``Directory(seed, size)`` always has the same users with
the same ids, names and addresses. Names are drawn from many cultures (accents, apostrophes
as in O'Brien, hyphens as in Jean-Luc, and Greek, Cyrillic, CJK, Korean, Arabic scripts),
because the recipient search must cope with real names. A few users are always present
(see ``_FIXED``): the sender accounts that can sign in, a signed-in user without a
mailbox, and names other tests search for ("O'Brien", "Zoë", several "Maria…").

Prefix search (Graph ``startswith``) is a bisect over one sorted key list per property, so
a 100,000-user directory answers in microseconds; results come back in directory order,
as Graph returns directory objects in its own stable order, not sorted.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import random
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

DOMAIN = "contoso.example"  # RFC 2606: can never be a real, deliverable domain
MAX_SIZE = 100_000
#: Properties Graph lets you filter users on with startswith/eq by default.
FILTER_PROPERTIES = ("displayName", "givenName", "surname", "mail", "userPrincipalName")
_TOP_CHAR = "\U0010ffff"


@dataclass(frozen=True)
class User:
    """A directory user as Graph's ``microsoft.graph.user`` carries it (basic properties)."""

    index: int
    id: str
    displayName: str
    givenName: str
    surname: str
    mail: str
    userPrincipalName: str
    jobTitle: str
    department: str
    officeLocation: str
    preferredLanguage: str
    mobilePhone: str | None
    businessPhones: tuple[str, ...]
    has_mailbox: bool = True
    can_sign_in: bool = False

    def graph_json(self) -> dict[str, object]:
        """The default property set Graph returns for a user."""
        return {
            "businessPhones": list(self.businessPhones),
            "displayName": self.displayName,
            "givenName": self.givenName,
            "jobTitle": self.jobTitle,
            "mail": self.mail,
            "mobilePhone": self.mobilePhone,
            "officeLocation": self.officeLocation,
            "preferredLanguage": self.preferredLanguage,
            "surname": self.surname,
            "userPrincipalName": self.userPrincipalName,
            "id": self.id,
        }


@dataclass(frozen=True)
class Person:
    """One entry of a user's relevant-people list (``microsoft.graph.person``)."""

    id: str
    displayName: str
    givenName: str
    surname: str
    address: str
    userPrincipalName: str
    jobTitle: str
    department: str
    companyName: str
    relevance: float
    subclass: str  # "OrganizationUser" or "PersonalContact"
    words: tuple[str, ...] = field(default=(), compare=False)

    def graph_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "displayName": self.displayName,
            "givenName": self.givenName,
            "surname": self.surname,
            "birthday": "",
            "personNotes": "",
            "isFavorite": False,
            "jobTitle": self.jobTitle,
            "companyName": self.companyName,
            "yomiCompany": "",
            "department": self.department,
            "officeLocation": None,
            "profession": "",
            "userPrincipalName": self.userPrincipalName,
            "imAddress": f"sip:{self.address}" if self.subclass == "OrganizationUser" else None,
            "scoredEmailAddresses": [
                {
                    "address": self.address,
                    "relevanceScore": self.relevance,
                    "selectionLikelihood": "notSpecified",
                }
            ],
            "phones": [],
            "postalAddresses": [],
            "websites": [],
            "personType": {"class": "Person", "subclass": self.subclass},
        }


# given, surname, latin given, latin surname, surname-first, lang, mailbox, can sign in
_FIXED: list[tuple[str, str, str, str, bool, str, bool, bool]] = [
    ("Adele", "Vance", "Adele", "Vance", False, "en-US", True, True),
    ("Grady", "Archie", "Grady", "Archie", False, "en-US", True, True),
    ("Megan", "Bowen", "Megan", "Bowen", False, "en-US", True, True),
    ("Nestor", "Wilke", "Nestor", "Wilke", False, "de-DE", True, True),
    ("Lynne", "Robbins", "Lynne", "Robbins", False, "en-US", False, True),
    ("Conor", "O'Brien", "Conor", "OBrien", False, "en-IE", True, False),
    ("Zoë", "Dubois", "Zoe", "Dubois", False, "fr-FR", True, False),
    ("Maria", "García", "Maria", "Garcia", False, "es-ES", True, False),
    ("María José", "Fernández", "Maria Jose", "Fernandez", False, "es-ES", True, False),
    ("Mariana", "Costa", "Mariana", "Costa", False, "pt-BR", True, False),
    ("Marianne", "Lefèvre", "Marianne", "Lefevre", False, "fr-FR", True, False),
    ("Jean-Luc", "Picard-Rousseau", "Jean-Luc", "Picard-Rousseau", False, "fr-FR", True, False),
    ("Γιώργος", "Παπαδόπουλος", "Giorgos", "Papadopoulos", False, "el-GR", True, False),
    ("Мария", "Иванова", "Maria", "Ivanova", False, "ru-RU", True, False),
    ("伟", "王", "Wei", "Wang", True, "zh-CN", True, False),
    ("健", "佐藤", "Ken", "Sato", True, "ja-JP", True, False),
]


def _latin(names: str) -> list[tuple[str, str]]:
    return [(n, n) for n in names.split()]


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        native, latin = item.strip().split("=")
        out.append((native, latin))
    return out


# Name pools per culture: (language, surname first, [(given, latin)], [(surname, latin)])
_CULTURES: list[tuple[str, bool, list[tuple[str, str]], list[tuple[str, str]]]] = [
    (
        "en-US",
        False,
        _latin("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William"),
        _latin("Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Moore"),
    ),
    (
        "en-IE",
        False,
        _latin("Siobhan Aoife Ciaran Niamh Padraig Eoin Sinead Declan Orla Cathal"),
        _pairs(
            "O'Brien=OBrien,O'Connor=OConnor,O'Sullivan=OSullivan,McCarthy=McCarthy,"
            "O'Neill=ONeill,Murphy=Murphy,Kelly=Kelly,O'Reilly=OReilly,Walsh=Walsh"
        ),
    ),
    (
        "fr-FR",
        False,
        _pairs(
            "Zoë=Zoe,Hélène=Helene,François=Francois,Jérôme=Jerome,Anaïs=Anais,Cécile=Cecile,"
            "Jean-Pierre=Jean-Pierre,Anne-Marie=Anne-Marie,Benoît=Benoit,Léa=Lea,Noël=Noel"
        ),
        _pairs(
            "Lefèvre=Lefevre,Dubois=Dubois,Moreau=Moreau,Laurent=Laurent,Girard=Girard,"
            "Bonnet=Bonnet,Rousseau=Rousseau,Faure=Faure,Chevalier=Chevalier,Lemaître=Lemaitre"
        ),
    ),
    (
        "de-DE",
        False,
        _pairs(
            "Jürgen=Juergen,Günter=Guenter,Lukas=Lukas,Sören=Soeren,Käthe=Kaethe,Anna=Anna,"
            "Maximilian=Maximilian,Lena=Lena,Jörg=Joerg"
        ),
        _pairs(
            "Müller=Mueller,Schröder=Schroeder,Weiß=Weiss,Groß=Gross,Schmidt=Schmidt,"
            "Becker=Becker,Hoffmann=Hoffmann,Krüger=Krueger,Schulz-Wagner=Schulz-Wagner"
        ),
    ),
    (
        "es-ES",
        False,
        _pairs(
            "María=Maria,José=Jose,Lucía=Lucia,Álvaro=Alvaro,Marisol=Marisol,Iñaki=Inaki,"
            "Maribel=Maribel,Sofía=Sofia,Ramón=Ramon,María Luisa=Maria Luisa"
        ),
        _pairs(
            "García=Garcia,Muñoz=Munoz,Rodríguez=Rodriguez,Pérez=Perez,Sánchez=Sanchez,"
            "Gómez=Gomez,Martín=Martin,Jiménez=Jimenez,Ibáñez=Ibanez,López-Ortega=Lopez-Ortega"
        ),
    ),
    (
        "pt-BR",
        False,
        _pairs(
            "João=Joao,Conceição=Conceicao,Marcelo=Marcelo,Thaís=Thais,Gonçalo=Goncalo,"
            "Mariana=Mariana,Luís=Luis,Inês=Ines"
        ),
        _pairs(
            "Gonçalves=Goncalves,Araújo=Araujo,Magalhães=Magalhaes,Silva=Silva,Souza=Souza,"
            "Conceição=Conceicao,Ribeiro=Ribeiro,Simões=Simoes"
        ),
    ),
    (
        "sv-SE",
        False,
        _pairs("Åsa=Asa,Björn=Bjorn,Märta=Marta,Øyvind=Oyvind,Søren=Soren,Ingrid=Ingrid,Maja=Maja"),
        _pairs(
            "Åkesson=Akesson,Sjöberg=Sjoberg,Ødegaard=Odegaard,Lindqvist=Lindqvist,"
            "Nyström=Nystrom,Jørgensen=Jorgensen,Berg=Berg"
        ),
    ),
    (
        "pl-PL",
        False,
        _pairs(
            "Łukasz=Lukasz,Małgorzata=Malgorzata,Zoë=Zoe,Wojciech=Wojciech,Agnieszka=Agnieszka,"
            "Michał=Michal,Żaneta=Zaneta,Marianna=Marianna"
        ),
        _pairs(
            "Wójcik=Wojcik,Kowalczyk=Kowalczyk,Dąbrowski=Dabrowski,Szymańska=Szymanska,"
            "Łukaszewicz=Lukaszewicz,Nowak=Nowak,Dvořák=Dvorak,Novotná=Novotna"
        ),
    ),
    (
        "tr-TR",
        False,
        _pairs("Çağla=Cagla,Şebnem=Sebnem,Ömer=Omer,Gülşen=Gulsen,Mehmet=Mehmet,Ayşe=Ayse"),
        _pairs("Şahin=Sahin,Çelik=Celik,Yılmaz=Yilmaz,Öztürk=Ozturk,Aydın=Aydin,Doğan=Dogan"),
    ),
    (
        "el-GR",
        False,
        _pairs(
            "Γιώργος=Giorgos,Μαρία=Maria,Δημήτρης=Dimitris,Ελένη=Eleni,Νίκος=Nikos,"
            "Αικατερίνη=Aikaterini"
        ),
        _pairs(
            "Παπαδόπουλος=Papadopoulos,Νικολάου=Nikolaou,Γεωργίου=Georgiou,"
            "Οικονόμου=Oikonomou,Καραγιάννης=Karagiannis"
        ),
    ),
    (
        "ru-RU",
        False,
        _pairs(
            "Мария=Maria,Иван=Ivan,Анна=Anna,Дмитрий=Dmitry,Ольга=Olga,Сергей=Sergey,"
            "Наталья=Natalya,Алексей=Alexey"
        ),
        _pairs(
            "Иванов=Ivanov,Петрова=Petrova,Смирнов=Smirnov,Кузнецова=Kuznetsova,"
            "Попов=Popov,Соколова=Sokolova,Лебедев=Lebedev"
        ),
    ),
    (
        "uk-UA",
        False,
        _pairs("Олена=Olena,Тарас=Taras,Ярослава=Yaroslava,Богдан=Bohdan,Марія=Mariia"),
        _pairs("Шевченко=Shevchenko,Коваленко=Kovalenko,Бондаренко=Bondarenko,Ткачук=Tkachuk"),
    ),
    (
        "zh-CN",
        True,
        _pairs("伟=Wei,芳=Fang,娜=Na,敏=Min,静=Jing,磊=Lei,洋=Yang,艳=Yan,丽=Li"),
        _pairs("王=Wang,李=Li,张=Zhang,刘=Liu,陈=Chen,杨=Yang,黄=Huang,赵=Zhao"),
    ),
    (
        "ja-JP",
        True,
        _pairs("健=Ken,陽菜=Hina,翔=Sho,美咲=Misaki,大輔=Daisuke,さくら=Sakura,蓮=Ren"),
        _pairs("佐藤=Sato,鈴木=Suzuki,高橋=Takahashi,田中=Tanaka,渡辺=Watanabe,伊藤=Ito"),
    ),
    (
        "ko-KR",
        True,
        _pairs("민준=Minjun,서연=Seoyeon,지훈=Jihoon,하은=Haeun,도윤=Doyun"),
        _pairs("김=Kim,이=Lee,박=Park,최=Choi,정=Jung"),
    ),
    (
        "ar-SA",
        False,
        _pairs("محمد=Mohammed,فاطمة=Fatima,أحمد=Ahmed,مريم=Maryam,علي=Ali"),
        _pairs("العتيبي=Alotaibi,الحربي=Alharbi,القحطاني=Alqahtani,الشمري=Alshammari"),
    ),
    (
        "hi-IN",
        False,
        _pairs("Priya=Priya,Arjun=Arjun,Ananya=Ananya,Rohan=Rohan,Lakshmi=Lakshmi,Vikram=Vikram"),
        _pairs("Sharma=Sharma,Patel=Patel,Iyer=Iyer,Reddy=Reddy,Nair=Nair,Gupta=Gupta"),
    ),
    (
        "vi-VN",
        True,
        _pairs("Thảo=Thao,Dũng=Dung,Hương=Huong,Minh=Minh,Quỳnh=Quynh"),
        _pairs("Nguyễn=Nguyen,Trần=Tran,Lê=Le,Phạm=Pham,Đặng=Dang"),
    ),
]
#: Scripts written without a space between surname and given name.
_NO_SPACE = ("zh-CN", "ja-JP", "ko-KR")

_JOBS = [
    "Account Manager",
    "Sales Representative",
    "Marketing Specialist",
    "Software Engineer",
    "Product Manager",
    "HR Business Partner",
    "Customer Success Manager",
    "Financial Analyst",
    "Recruiter",
    "Director of Sales",
]
_DEPARTMENTS = ["Sales", "Marketing", "Engineering", "Human Resources", "Finance", "Support"]
_OFFICES = ["Redmond", "Dublin", "Paris", "München", "São Paulo", "Tokyo", "Athens", "Sydney"]
_EXTERNAL = ["fabrikam.example", "northwind.example", "adatum.example"]


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for fuzzy people matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=8192)
def _mail_local(latin_given: str, latin_surname: str) -> str:
    raw = f"{latin_given}.{latin_surname}".replace(" ", "")
    ascii_only = fold(raw).replace("ß", "ss").replace("ø", "o").replace("ł", "l")
    ascii_only = ascii_only.replace("æ", "ae").replace("đ", "d").replace("ı", "i")
    return "".join(c for c in ascii_only if c.isascii() and (c.isalnum() or c in ".-"))


def _display(given: str, surname: str, surname_first: bool, lang: str) -> str:
    if surname_first:
        return f"{surname}{given}" if lang in _NO_SPACE else f"{surname} {given}"
    return f"{given} {surname}"


class Directory:
    """A deterministic, seeded tenant directory."""

    def __init__(self, seed: int = 1, size: int = 3000, *, domain: str = DOMAIN) -> None:
        if not len(_FIXED) <= size <= MAX_SIZE:
            raise ValueError(f"directory size must be between {len(_FIXED)} and {MAX_SIZE}")
        self.seed = seed
        self.size = size
        self.domain = domain
        rng = random.Random(f"vmsg-directory-{seed}")
        self.users: list[User] = []
        self._by_key: dict[str, User] = {}
        taken: dict[str, int] = {}
        for given, surname, lg, ls, sfirst, lang, mailbox, sign_in in _FIXED:
            self._add(
                rng,
                names=(given, surname, lg, ls),
                surname_first=sfirst,
                lang=lang,
                taken=taken,
                mailbox=mailbox,
                sign_in=sign_in,
            )
        while len(self.users) < size:
            lang, sfirst, givens, surnames = rng.choice(_CULTURES)
            given, lg = rng.choice(givens)
            surname, ls = rng.choice(surnames)
            self._add(
                rng,
                names=(given, surname, lg, ls),
                surname_first=sfirst,
                lang=lang,
                taken=taken,
                mailbox=True,
                sign_in=False,
            )
        # One sorted (key, index) list per filterable property: startswith is two bisects.
        self._sorted: dict[str, tuple[list[str], list[int]]] = {}
        for prop in FILTER_PROPERTIES:
            pairs = sorted((str(getattr(u, prop)).casefold(), u.index) for u in self.users)
            self._sorted[prop] = ([k for k, _ in pairs], [i for _, i in pairs])
        self._people: dict[str, list[Person]] = {}

    def _add(
        self,
        rng: random.Random,
        *,
        names: tuple[str, str, str, str],
        surname_first: bool,
        lang: str,
        taken: dict[str, int],
        mailbox: bool,
        sign_in: bool,
    ) -> None:
        given, surname, latin_given, latin_surname = names
        local = _mail_local(latin_given, latin_surname)
        n = taken.get(local, 0) + 1
        taken[local] = n
        # Local parts never end in a digit, so "maria.garcia2" cannot clash with a base name.
        address = f"{local if n == 1 else f'{local}{n}'}@{self.domain}"
        index = len(self.users)
        user = User(
            index=index,
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            displayName=_display(given, surname, surname_first, lang),
            givenName=given,
            surname=surname,
            mail=address,
            userPrincipalName=address,
            jobTitle=rng.choice(_JOBS),
            department=rng.choice(_DEPARTMENTS),
            officeLocation=rng.choice(_OFFICES),
            preferredLanguage=lang,
            mobilePhone=f"+1 425 555 {rng.randrange(10000):04d}" if rng.random() < 0.5 else None,
            businessPhones=(f"+1 425 555 {rng.randrange(10000):04d}",),
            has_mailbox=mailbox,
            can_sign_in=sign_in,
        )
        self.users.append(user)
        self._by_key[user.id.casefold()] = user
        self._by_key[address.casefold()] = user

    # ----------------------------------------------------------------- look-ups

    @property
    def senders(self) -> list[User]:
        """Accounts that can sign in and have a mailbox (listed in the manifest)."""
        return [u for u in self.users if u.can_sign_in and u.has_mailbox]

    @property
    def accounts(self) -> list[User]:
        """Every account that can sign in (senders plus the one without a mailbox)."""
        return [u for u in self.users if u.can_sign_in]

    @property
    def no_mailbox_user(self) -> User:
        return next(u for u in self.users if u.can_sign_in and not u.has_mailbox)

    def get(self, id_or_upn: str) -> User | None:
        """A user by object id or userPrincipalName/mail (case-insensitive)."""
        return self._by_key.get(id_or_upn.casefold())

    # ----------------------------------------------------------------- search

    def startswith(self, prop: str, prefix: str) -> list[int]:
        """Indices of users whose ``prop`` starts with ``prefix`` (case-insensitive)."""
        keys, idx = self._sorted[prop]
        p = prefix.casefold()
        lo = bisect.bisect_left(keys, p)
        hi = bisect.bisect_left(keys, p + _TOP_CHAR, lo)
        return idx[lo:hi]

    def equals(self, prop: str, value: str) -> list[int]:
        keys, idx = self._sorted[prop]
        v = value.casefold()
        lo = bisect.bisect_left(keys, v)
        hi = bisect.bisect_right(keys, v, lo)
        return idx[lo:hi]

    @staticmethod
    def first(indices: Iterable[int], n: int) -> list[int]:
        """The ``n`` smallest indices (directory order) without sorting everything."""
        return heapq.nsmallest(n, indices)

    # ----------------------------------------------------------------- people

    def people_for(self, user: User) -> list[Person]:
        """The user's relevant-people list, most relevant first (deterministic)."""
        cached = self._people.get(user.id)
        if cached is not None:
            return cached
        rng = random.Random(f"vmsg-people-{self.seed}-{user.id}")
        # Everyone works with the fixed users (other tests search for them), plus a
        # deterministic sample of colleagues and a few external contacts.
        chosen = [u for u in self.users[: len(_FIXED)] if u.id != user.id]
        pool = self.users[len(_FIXED) :]
        chosen += rng.sample(pool, min(len(pool), 250))
        scores = sorted((rng.uniform(1.0, 30.0) for _ in chosen), reverse=True)
        rng.shuffle(chosen)
        people = [
            _person(
                pid=u.id,
                names=(u.displayName, u.givenName, u.surname),
                address=u.mail,
                upn=u.mail,
                work=(u.jobTitle, u.department, "Contoso"),
                relevance=s,
                subclass="OrganizationUser",
            )
            for u, s in zip(chosen, scores, strict=True)
        ]
        for i in range(15):
            lang, sfirst, givens, surnames = rng.choice(_CULTURES)
            given, lg = rng.choice(givens)
            surname, ls = rng.choice(surnames)
            domain = rng.choice(_EXTERNAL)
            people.append(
                _person(
                    pid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    names=(_display(given, surname, sfirst, lang), given, surname),
                    address=f"{_mail_local(lg, ls)}@{domain}",
                    upn="",
                    work=("", "", domain.split(".")[0].title()),
                    relevance=round(0.5 + i * 0.01, 2),
                    subclass="PersonalContact",
                )
            )
        people.sort(key=lambda p: -p.relevance)
        self._people[user.id] = people
        return people

    def search_people(self, user: User, query: str) -> list[Person]:
        """Fuzzy, relevance-ordered people search as ``/me/people?$search=`` does it.

        Every query word must match some word of the person's name or address: as a
        prefix (accent- and case-insensitive) or, for words of four letters or more, within
        one typo. Exact prefix matches rank above fuzzy ones; then by relevance.
        """
        terms = [fold(t) for t in query.replace(",", " ").split()]
        people = self.people_for(user)
        if not terms:
            return list(people)
        scored: list[tuple[int, int, Person]] = []
        for order, person in enumerate(people):
            quality = 0
            for term in terms:
                q = _match_quality(term, person.words)
                if q == 0:
                    break
                quality += q
            else:
                scored.append((-quality, order, person))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [p for _, _, p in scored]


def _person(
    *,
    pid: str,
    names: tuple[str, str, str],
    address: str,
    upn: str,
    work: tuple[str, str, str],
    relevance: float,
    subclass: str,
) -> Person:
    name, given, surname = names
    text = f"{name} {given} {surname}"
    words = {fold(w) for w in text.replace("-", " ").split()}
    words |= {fold(w) for w in text.split()}
    words.add(fold(address))
    local = address.split("@", 1)[0]
    words |= {fold(w) for w in local.replace("-", ".").split(".") if w}
    job, dept, company = work
    return Person(
        id=pid,
        displayName=name,
        givenName=given,
        surname=surname,
        address=address,
        userPrincipalName=upn,
        jobTitle=job,
        department=dept,
        companyName=company,
        relevance=round(relevance, 2),
        subclass=subclass,
        words=tuple(sorted(w for w in words if w)),
    )


def _match_quality(term: str, words: tuple[str, ...]) -> int:
    """2 = some word starts with the term, 1 = within one edit of a word's prefix, 0 = no."""
    for w in words:
        if w.startswith(term) or w.replace("'", "").startswith(term):
            return 2
    if len(term) >= 4:
        n = len(term)
        for w in words:
            if any(_within_one_edit(term, w[:k]) for k in (n - 1, n, n + 1)):
                return 1
    return 0


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1, or one adjacent transposition."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]
