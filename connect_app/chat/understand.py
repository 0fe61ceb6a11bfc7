"""What a CSM's chat message asks for: the intent and its entities, read by patterns and fuzzy name matching.

Pure and deterministic: no database, no network, no model. The same text, name index and context always
give the same reading, and every decision is written to `Reading.why` ("customer: 'acme' is the start of
Acme Labs's name"), so an answer can show how it was read. How a message is read:

1. Issue keys in any case (cs-123 is CS-123; "cs123" only for the workspace's known projects) and a
   site ("on jira.acme.com"). Command words mistyped by a letter or two ("isues", "notfy") are mended.
2. The intent, the first that fits: help; create_issue (a creation verb before an issue noun, before
   any summary); unsubscribe; list_subscriptions; subscribe; a Jira action the chat does not take
   (delete, close, assign: unknown, never a guess that acts); issue_status (a key, or status words
   about "it"); show_issues (issue words, filters or "what's going on" with a customer); else unknown.
3. The intent's entities. Customers: word runs of the text looked up exactly (the name, the name
   without its legal suffix, the slug, the external id, the leading words of a name — longest run
   first), else fuzzily (RapidFuzz ratio over the same keys), else the context's customer when the
   text names none ("issues for this account"). A name that fits several customers ("acme": Acme
   Corp and Acme Labs) makes the intent `clarify`, with the candidates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

INTENTS = ("show_issues", "issue_status", "create_issue", "subscribe", "unsubscribe", "list_subscriptions",
           "help", "clarify", "unknown")
EVENTS = ("resolved", "reopened", "moved_to_development", "priority_changed", "assignee_changed",
          "status_changed", "sla_breached", "sla_at_risk", "created", "any")
LEGAL_SUFFIXES = frozenset({"inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "ltd",
                            "limited", "plc", "gmbh", "ag", "sa", "sas", "bv", "nv", "oy", "ab", "pty", "pte", "srl",
                            "spa", "kk", "lp"})
# Fuzzy thresholds (RapidFuzz ratio, 0-100): a match is taken when it is good and ahead of the next
# customer, or clearly ahead of every other; candidates this close to the best are offered as choices.
FUZZY_FLOOR, FUZZY_GOOD, FUZZY_AHEAD, FUZZY_CLEAR = 72, 85, 5, 12
MAX_CHOICES = 5
EXACT_SCORE = {"name": 1.0, "slug": 1.0, "external id": 1.0, "name without its legal suffix": 0.97,
               "start of the name": 0.9}

KEY = re.compile(r"(?<![\w-])([a-z][a-z0-9_]{1,9})-(\d{1,7})(?![\w-])", re.I)
BARE_KEY = re.compile(r"(?<![\w-])([a-z][a-z_]{1,9})(\d{1,7})(?![\w-])", re.I)
SITE = re.compile(r"\b(?:on|in|at|from)\s+(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:/\S*)?", re.I)
QUOTES = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}  # typographic quotes, as phones type them
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
NOT_ALNUM = re.compile(r"[^a-z0-9]+")
NOT_POSSESSIVE = frozenset({"what", "it", "who", "that", "there", "here", "where", "how", "let", "he", "she", "one"})


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that are never part of a customer phrase on their own (a name may still contain them: "Open Road").
COMMAND_WORDS = _words("""
    a an the me my mine i im i'm i'd we us our you your it its it's this that these those them they their theirs
    here there one ones please pls plz thanks thank thx ty asap now today yet still already again just really right
    currently ever can could would will should shall do does did done is are was were be been being has have had
    having get gets got getting any some all every everything anything something nothing stuff things thing items
    item of to in on at for from with about against by and or but if when whenever once as soon so not no don't dont
    anymore more what what's whats which who who's whos where where's wheres how how's hows why show list give see
    find look looking looks check pull display fetch bring lookup tell know let keep jira jiras issue issues bug
    bugs ticket tickets tix story stories task tasks epic epics feature features request requests enhancement
    enhancements improvement improvements defect defects problem problems open opened outstanding unresolved active
    pending remaining closed resolved done fixed fix complete completed finished shipped progress started start
    backlog todo high highest low lowest medium normal critical urgent blocker blockers blocking priority pri
    important minor major p0 p1 p2 p3 p4 p0s p1s p2s p3s p4s status update updates news going happening state eta
    like account customer client company org organisation organization broken including include included also wrong
    latest recent lately week month stand standing things' up yes yeah ok okay hey hi hello
""")
# Mistyped command words are mended towards these (tokens of five letters or more, ratio >= 85).
MENDABLE = ("issues", "tickets", "status", "subscribe", "unsubscribe", "subscriptions", "notify", "alert",
            "resolved", "priority", "development", "progress", "create", "feature", "request", "assigned",
            "closed", "update", "anything", "everything", "watching", "following", "reopened", "escalated")

HELP = re.compile(r"^(?:help|\?+|commands?|usage|menu|options|what can (?:you|i) (?:do|ask|say|type)(?: you)?"
                  r"|what do you do|what can this do|how does (?:this|it) work|how (?:do|can) i use (?:this|you|it)"
                  r"|what (?:kinds?|sorts?) of (?:things|stuff|questions) can (?:you|i) (?:help with|do|ask)(?: you)?"
                  r"|(?:what|how) can you help(?: me)?(?: with)?"
                  r"|(?:hi|hello|hey|yo|hiya|howdy|good (?:morning|afternoon|evening))(?: there| team| bot)?)\W*$")
CREATE_NOUN = (r"(?P<noun>jira issue|jira ticket|jira bug|feature request|enhancement request|bug report|jira|issue"
               r"|bug|ticket|feature|story|task|defect|improvement|enhancement|request|epic)\b")
CREATE = re.compile(
    r"(?:\b(?:create|file|log|raise|submit|make|add|report|draft|write(?: up)?|put in|enter)\b"
    r"(?:\s+(?:a|an|new|another|one|quick|me))*|\bopen\s+(?:a|an|another|one|new)(?:\s+new)?|^new)\s+" + CREATE_NOUN)
STRONG_SEPARATOR = re.compile(r"\s*(?::|\u2014|\u2013|--|\s-\s)\s*")  # colon, em or en dash, " - "
WEAK_SEPARATOR = re.compile(r"\s*(?:\?|,)\s+|\s+(?:about|regarding|re:?|saying|that says|titled|called|named"
                            r"|with (?:the )?summary)\s+", re.I)
UNSUBSCRIBE = re.compile(
    r"\b(?:unsubscribe|unwatch|unfollow|unsub|mute|silence)\b"
    r"|\bstop\s+(?:\w+\s+)?(?:alerting|notifying|pinging|telling|messaging|emailing|updating|watching|following"
    r"|tracking|sending|alerts|notifications|updates|pings)\b"
    r"|\b(?:don'?t|do not|no longer)\s+(?:need|want)\s+(?:to\s+(?:know|hear)|(?:any\s+)?(?:more\s+)?"
    r"(?:updates|alerts|notifications|pings))\b"
    r"|\b(?:don'?t|do not|no longer)\s+(?:alert|notify|ping|tell|update|message|email)\s+me\b"
    r"|\bno more\s+(?:alerts|notifications|updates|pings|emails)\b"
    r"|\b(?:remove|delete|cancel|turn off|disable)\s+(?:my\s+|the\s+|that\s+)?(?:alert|subscription|watch"
    r"|notification)s?\b")
LIST_SUBSCRIPTIONS = re.compile(
    r"\bwhat (?:am i|i'?m) (?:watching|following|subscribed to|tracking|getting alerts)\b"
    r"|(?:^|\b(?:list|show|see)\s+)(?:me\s+)?(?:all\s+)?my\s+(?:subscriptions|alerts|watches|watchlist|watch list"
    r"|follows|notification settings)\b"
    r"|\bwhat (?:alerts|subscriptions|notifications) (?:do i have|have i (?:set up|got)|am i getting|are set up)\b"
    r"|\bwhich (?:issues|tickets|bugs|keys) am i (?:watching|following|subscribed to|tracking)\b"
    r"|\b(?:do i have|have i got|are there) any (?:alerts|subscriptions|watches|notifications) (?:set|on|running)")
SUBSCRIBE = re.compile(
    r"\b(?:alert|notify|ping|message|email|text|slack|warn|remind|buzz)\s+me\b"
    r"|\b(?:let me know|tell me|heads[- ]?up|i (?:want|need|'?d like|would like) to (?:know|hear))"
    r"\s+(?:when|if|once|as soon as|whenever|the moment|about any|of any)\b"
    r"|\b(?:be|get|getting) (?:notified|alerted|pinged|told)\b|\bget an? (?:alert|notification|ping)\b"
    r"|\bkeep me\s+(?:posted|updated|in the loop|informed)\b|\b(?:subscribe|watch|track)\b|\bfollow\b(?! up)"
    r"|\bsend me (?:an? )?(?:alert|notification|message|ping|email)\b|\bset (?:up )?an? (?:alert|notification"
    r"|reminder)\b|\bgive me a (?:heads[- ]?up|shout|ping)\b")
NOT_OURS = re.compile(r"^(?:please\s+|can you\s+|could you\s+|pls\s+)?(?:delete|remove|close|resolve|reopen|assign"
                      r"|unassign|reassign|transition|move|edit|update(?! on| me)|change|set|comment on|link|merge"
                      r"|rename|archive|prioriti[sz]e|escalate|fix)\b")
ANAPHORA = re.compile(r"\b(?:it|it's|its|this|that)(?:\s+(?:one|issue|ticket|bug|jira|story|task))?\b")
CONTEXT_CUSTOMER = re.compile(r"\b(?:this|that|the current|current|my current|the same|same)\s+(?:account|customer"
                              r"|client|company|org|organi[sz]ation)\b|\b(?:them|they|their|theirs)\b")
STATUS_WORDS = re.compile(r"\b(?:status|where (?:are we|is (?:it|this|that))|done|fixed|resolved|closed|eta|progress"
                          r"|update|news|assigned|assignee|working on|priority|blocked|happening|going on|coming along"
                          r"|how long)\b|^\W*$")
ISSUE_NOUNS = re.compile(r"\b(?:issues?|bugs?|tickets?|tix|jiras?|problems?|defects?|stor(?:y|ies)|tasks?|epics?"
                         r"|feature requests?|features|enhancements?|escalations?|backlog|items)\b")
PLURAL_NOUNS = re.compile(r"\b(?:issues|bugs|tickets|tix|jiras|problems|defects|stories|tasks|epics|features"
                          r"|feature requests|enhancements|escalations|backlog|items)\b")
OVERVIEW = re.compile(r"\b(?:what'?s going on|going on|how are things|anything|what'?s broken|broken|where are we"
                      r"|latest|what did we fix|status|updates?|what'?s open|open)\b")

FILTER_OPEN = re.compile(r"\b(?:open|opened|outstanding|unresolved|active|pending|remaining|unfixed"
                         r"|not (?:yet )?(?:done|fixed|resolved|closed)|still open)\b")
FILTER_ALL = re.compile(r"\b(?:all|every|everything|including (?:the )?(?:closed|resolved|done)(?: ones)?"
                        r"|any status|regardless of status|all time|whole history)\b")
CATEGORIES = (("indeterminate", re.compile(r"\b(?:in[- ]progress|being worked on|in development|in dev|wip"
                                           r"|underway|under way|in flight)\b")),
              ("new", re.compile(r"\b(?:not (?:yet )?started|to ?do|backlog|untriaged|not picked up|unstarted)\b")),
              ("done", re.compile(r"\b(?:closed|resolved|done|fixed|completed?|finished|shipped|released"
                                  r"|did we fix|we fixed)\b")))
PRIORITIES = (("Highest", re.compile(r"\b(?:highest(?:[- ]priority)?|critical|crit|blockers?|blocking|urgent"
                                     r"|(?:p|sev ?)[01]s?|top[- ]priority|showstoppers?)\b")),
              ("High", re.compile(r"\b(?:high(?:[- ]?pri(?:ority)?)?|hi[- ]?pri|important|major|(?:p|sev ?)2s?)\b")),
              ("Medium", re.compile(r"\b(?:medium|normal|(?:p|sev ?)3s?)\b")),
              ("Low", re.compile(r"\b(?:low(?:[- ]priority)?|minor|(?:p|sev ?)4s?)\b")),
              ("Lowest", re.compile(r"\b(?:lowest|trivial|p5)\b")))
TYPES = (("Bug", re.compile(r"\b(?:bugs?|defects?|bug reports?)\b")),
         ("Story", re.compile(r"\b(?:stor(?:y|ies)|feature requests?|features?|enhancements?(?: requests?)?"
                              r"|improvements?)\b")),
         ("Task", re.compile(r"\b(?:tasks?|chores?)\b")),
         ("Epic", re.compile(r"\bepics?\b")))
EVENT_PATTERNS = (
    ("moved_to_development", re.compile(
        r"\b(?:(?:moves?|goes|gets moved|is moved|gets|is put) (?:in)?to (?:development|dev|in progress)"
        r"|in development|in dev|in progress|picked up|picks? (?:it )?up|starts|started|being worked on"
        r"|gets worked on|work (?:starts|begins)|development (?:starts|begins))\b")),
    ("priority_changed", re.compile(
        r"\bpriority\b[^.?!]{0,30}?\b(?:changes?|changed|goes (?:up|down)|raised|lowered|bumped|moves|escalat\w*)"
        r"|\b(?:escalat\w+|re-?prioriti[sz]\w*|bumped|downgraded|upgraded)\b")),
    ("reopened", re.compile(r"\bre-?open(?:ed|s)?\b")),
    ("assignee_changed", re.compile(r"\b(?:assigned|reassigned|assignee|gets an owner|someone takes)\b")),
    ("sla_breached", re.compile(r"\b(?:breach\w*|misses? (?:its|the) sla|sla (?:breach|miss)|overdue)\b")),
    ("sla_at_risk", re.compile(r"\bat risk\b")),
    ("created", re.compile(r"\b(?:new (?:issues?|bugs?|tickets?)|anything new|(?:gets?|is) (?:filed|created"
                           r"|logged|opened))\b")),
    ("resolved", re.compile(r"\b(?:resolved?|resolves|fixed|fix|fixes|done|closed?|closes|complete[ds]?|finishe[ds]"
                            r"|finish|ships|shipped|ship|released?|releases|deployed|goes live|is live|lands"
                            r"|landed|merged|solved)\b")),
    ("status_changed", re.compile(r"\b(?:moves|changes status|status changes|transitions)\b")),
)
ORDINALS = (("first", "1st", "one", "1", "top"), ("second", "2nd", "two", "2"), ("third", "3rd", "three", "3"),
            ("fourth", "4th", "four", "4"), ("fifth", "5th", "five", "5"))
PICK = re.compile(r"^(?:the\s+|option\s+|choice\s+|number\s+|no\.?\s*|#)?(?P<which>[a-z0-9]+)"
                  r"(?:\s+(?:one|option|choice|please|pls))*[.!]*$")


# Words the patterns know: never "mended" into another.
KNOWN_WORDS = COMMAND_WORDS | frozenset(
    word for pattern in (HELP, CREATE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SUBSCRIBE, NOT_OURS, STATUS_WORDS, ISSUE_NOUNS,
                         OVERVIEW, FILTER_OPEN, FILTER_ALL, *(p for _, p in CATEGORIES + PRIORITIES + TYPES
                                                              + EVENT_PATTERNS))
    for word in re.findall(r"[a-z]{3,}", pattern.pattern))


def _names_a_filter(low: str) -> bool:
    return any(p.search(low) for p in (FILTER_OPEN, FILTER_ALL, *(p for _, p in CATEGORIES + PRIORITIES + TYPES)))


# ---- names -----------------------------------------------------------------------------------------

def name_key(text: str) -> str:
    """A name as matched: accents, case and punctuation gone, "&" read as "and"."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(NOT_ALNUM.sub(" ", text.lower().replace("&", " and ")).split())


def core_of(key: str) -> str:
    """A name key without a leading "the" and trailing legal suffixes ("acme corp" -> "acme")."""
    words = key.split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


@dataclass(frozen=True)
class CustomerRef:
    """A customer as the chat knows it."""

    id: str
    name: str
    slug: str = ""
    external_id: str | None = None


@dataclass(frozen=True)
class CustomerMatch:
    """A customer a phrase names, how well (0-1) and why."""

    customer: CustomerRef
    score: float
    how: str


class NameIndex:
    """The customers of one workspace, indexed for exact lookups of word runs and fuzzy matching."""

    def __init__(self, customers: Iterable[CustomerRef]):
        self.customers = list(customers)
        self.exact: dict[str, dict[int, str]] = {}  # decisive: the name, slug or external id
        self.loose: dict[str, dict[int, str]] = {}  # the name without suffix, the leading words of a name
        self.fuzzy_keys: list[str] = []
        self.fuzzy_owner: list[int] = []
        tokens: set[str] = set()
        for n, ref in enumerate(self.customers):
            full = name_key(ref.name)
            for key, how in ((full, "name"), (name_key(ref.slug), "slug"),
                             (name_key(ref.external_id or ""), "external id")):
                if key:
                    self.exact.setdefault(key, {}).setdefault(n, how)
            core = core_of(full)
            words = core.split()
            tokens.update(full.split())
            self.loose.setdefault(core, {}).setdefault(n, "name without its legal suffix")
            fuzzy = {core, full}
            for size in range(1, len(words)):
                head = " ".join(words[:size])
                self.loose.setdefault(head, {}).setdefault(n, "start of the name")
                if size < 3:
                    fuzzy.add(head)
            fuzzy = sorted(fuzzy)
            self.fuzzy_keys.extend(fuzzy)
            self.fuzzy_owner.extend([n] * len(fuzzy))
        self.tokens = frozenset(tokens)

    def __len__(self) -> int:
        return len(self.customers)

    def lookup(self, phrase: str) -> list[CustomerMatch]:
        """Customers whose name, slug or external id is exactly this phrase (decisive), else those whose name
        without suffix or leading words it is."""
        key = name_key(phrase)
        hits = self.exact.get(key) or self.loose.get(core_of(key)) or {}
        return [CustomerMatch(self.customers[n], EXACT_SCORE[how], how) for n, how in sorted(hits.items())]

    def fuzzy(self, phrase: str) -> list[CustomerMatch]:
        """Customers whose name reads like the phrase (best first, at least FUZZY_FLOOR), one entry each."""
        key = core_of(name_key(phrase))
        if len(key) < 3:
            return []
        best: dict[int, float] = {}
        for _, score, position in process.extract(key, self.fuzzy_keys, scorer=fuzz.ratio, limit=20,
                                                  score_cutoff=FUZZY_FLOOR):
            owner = self.fuzzy_owner[position]
            best[owner] = max(best.get(owner, 0.0), score)
        ranked = sorted(best.items(), key=lambda item: (-item[1], self.customers[item[0]].name))
        return [CustomerMatch(self.customers[n], round(score / 100, 2), "reads like the name") for n, score in ranked]


# ---- the reading -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """What the CSM is looking at: a customer and/or an issue (from the request, or the conversation)."""

    customer: CustomerRef | None = None
    issue_key: str | None = None


@dataclass
class Reading:
    """What a message asks for. `intent` is "clarify" when the customer is ambiguous: `of` is then the
    intent that waits for the answer and `candidates` the customers to choose from."""

    intent: str
    of: str | None = None
    customer: CustomerMatch | None = None
    candidates: list[CustomerMatch] = field(default_factory=list)
    unmatched: str | None = None  # a customer phrase that fits no customer
    issue_key: str | None = None
    site: str | None = None
    filters: dict = field(default_factory=dict)
    event: str | None = None
    event_kinds: list[str] = field(default_factory=list)
    issue_type: str | None = None
    summary: str | None = None
    why: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        """The intent to act on (the clarified one for a clarification)."""
        return self.of or self.intent

    def entities(self) -> dict:
        """The entities as the API answers them."""
        found: dict = {}
        if self.customer:
            found["customer"] = {"id": self.customer.customer.id, "name": self.customer.customer.name,
                                 "match": self.customer.score}
        for name in ("issue_key", "site", "event", "issue_type", "summary"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        if self.action == "show_issues":
            found["filters"] = dict(self.filters)
        return found


@dataclass
class _Text:
    """The message prepared once: cleaned (original case), lower-cased and mended, with keys found."""

    original: str
    low: str
    keys: list[str]
    site: str | None


def _prepare(text: str, index: NameIndex, project_keys: frozenset[str], why: list[str]) -> _Text:
    original = " ".join(unicodedata.normalize("NFKC", text).translate(str.maketrans(QUOTES)).split())
    keys: list[str] = []

    def key(match: re.Match) -> str:
        keys.append(f"{match.group(1).upper()}-{int(match.group(2))}")
        return " § "

    low = KEY.sub(key, original.lower())
    if project_keys:
        low = BARE_KEY.sub(lambda m: key(m) if m.group(1).upper() in project_keys else m.group(0), low)
    for found in keys:
        why.append(f"issue key {found}")
    site = SITE.search(low)
    if site:
        why.append(f"site {site.group(1)}")
        low = low[:site.start()] + low[site.end():]
    mended = []
    for word in low.split(" "):
        bare = word.strip("?!.,;:")
        if len(bare) >= 5 and bare.isalpha() and bare not in KNOWN_WORDS and bare not in index.tokens:
            fix = process.extractOne(bare, MENDABLE, scorer=fuzz.ratio, score_cutoff=85)
            if fix and fix[0] != bare:
                why.append(f"read '{bare}' as '{fix[0]}'")
                word = word.replace(bare, fix[0])
        mended.append(word)
    return _Text(original, " ".join(" ".join(mended).split()), keys, site.group(1) if site else None)


def _intent(text: _Text) -> tuple[str, str]:
    low = text.low
    if HELP.match(low):
        return "help", "asks what the chat can do"
    if CREATE.search(low):
        return "create_issue", "a creation verb before an issue noun"
    for intent, pattern in (("unsubscribe", UNSUBSCRIBE), ("list_subscriptions", LIST_SUBSCRIPTIONS),
                            ("subscribe", SUBSCRIBE)):
        if found := pattern.search(low):
            return intent, f"'{found.group(0).strip()}'"
    if found := NOT_OURS.match(low):
        return "unknown", f"'{found.group(0).strip()}' is a Jira action the chat does not take"
    if text.keys:
        return "issue_status", "an issue key"
    return "", ""


def understand(text: str, index: NameIndex, context: Context = Context(),
               project_keys: Iterable[str] = ()) -> Reading:
    """Read one message: its intent and entities (see the module docstring)."""
    why: list[str] = []
    prepared = _prepare(text, index, frozenset(project_keys), why)
    intent, reason = _intent(prepared)
    low = prepared.low
    if not intent:
        customer_words = _customer_words(low)
        names_one = bool(customer_words and _match_customer(customer_words, index)[0])
        if not names_one and not PLURAL_NOUNS.search(low) and STATUS_WORDS.search(low) and (
                ANAPHORA.search(low) or len(low.split()) <= 2):
            intent, reason = "issue_status", "status words about an issue"
        elif ISSUE_NOUNS.search(low) or ((OVERVIEW.search(low) or _names_a_filter(low))
                                         and (names_one or CONTEXT_CUSTOMER.search(low))):
            intent, reason = "show_issues", "issue words" if ISSUE_NOUNS.search(low) else "asks how things stand"
        else:
            intent, reason = "unknown", "no command fits"
    why.insert(0, f"intent {intent}: {reason}")
    reading = Reading(intent, site=prepared.site, why=why)
    if intent in ("issue_status", "subscribe", "unsubscribe"):
        _issue_entities(reading, prepared, index, context)
    elif intent == "show_issues":
        _show_entities(reading, prepared, index, context)
    elif intent == "create_issue":
        _create_entities(reading, prepared, index, context)
    if reading.candidates and reading.customer is None:
        reading.of, reading.intent = reading.intent, "clarify"
        reading.why.append(f"so: ask which customer, then {reading.of}")
    return reading


# ---- entities ------------------------------------------------------------------------------------------

def _customer_words(low: str) -> list[tuple[str, int, int]]:
    """The words of a text that may name a customer, with their positions (possessives cut: "acme's" -> "acme")."""
    words = []
    for found in WORD.finditer(low.replace("-", " ")):
        word = found.group(0)
        if word.endswith("'s") and word[:-2] not in NOT_POSSESSIVE:
            word = word[:-2]
        words.append((word, found.start(), found.end()))
    return words


def _match_customer(words: list[tuple[str, int, int]], index: NameIndex,
                    ) -> tuple[list[CustomerMatch], tuple[int, int] | None, str | None]:
    """Customers named by the words: exact runs (longest first), else fuzzy runs of non-command words.

    Returns (matches: one, several (ambiguous) or none; the span of text they were found in; the
    phrase tried when nothing fits).
    """
    best: tuple[int, bool] | None = None
    found: dict[str, CustomerMatch] = {}
    spans: list[tuple[int, int]] = []
    for start in range(len(words)):
        for size in range(min(5, len(words) - start), 0, -1):
            run = words[start:start + size]
            if all(w in COMMAND_WORDS for w, _, _ in run):
                continue
            hits = index.lookup(" ".join(w for w, _, _ in run))
            if not hits:
                continue
            rank = (size, hits[0].score == 1.0)
            if best is None or rank > best:
                best, found, spans = rank, {}, []
            if rank == best:
                found |= {h.customer.id: h for h in hits}
                spans.append((run[0][1], run[-1][2]))
            break
    if found:
        matches = sorted(found.values(), key=lambda m: (-m.score, m.customer.name))
        decisive = [m for m in matches if m.score == 1.0]
        matches = decisive if len(decisive) == 1 else matches
        span = (min(s for s, _ in spans), max(e for _, e in spans))
        return matches, span, None
    runs: list[list[tuple[str, int, int]]] = [[]]
    for word in words:
        if word[0] in COMMAND_WORDS:
            runs.append([])
        else:
            runs[-1].append(word)
    runs = [run[:5] for run in runs if run][:3]
    for run in runs:
        ranked = index.fuzzy(" ".join(w for w, _, _ in run))
        if ranked:
            return _decide(ranked), (run[0][1], run[-1][2]), None
    return [], None, " ".join(w for w, _, _ in runs[0]) if runs else None


def _decide(ranked: list[CustomerMatch]) -> list[CustomerMatch]:
    """One fuzzy match when it is good and ahead, or clearly ahead; else the close ones, to choose from."""
    top = ranked[0].score * 100
    second = ranked[1].score * 100 if len(ranked) > 1 else 0.0
    if (top >= FUZZY_GOOD and second <= top - FUZZY_AHEAD) or second <= top - FUZZY_CLEAR:
        return ranked[:1]
    return [m for m in ranked if m.score * 100 >= top - FUZZY_CLEAR][:MAX_CHOICES]


def _customer(reading: Reading, low: str, index: NameIndex, context: Context) -> tuple[int, int] | None:
    """Set the reading's customer (or candidates) from the text, else from the context; returns the span used."""
    matches, span, unmatched = _match_customer(_customer_words(low), index)
    said = low[span[0]:span[1]].removesuffix("'s") if span else ""
    if len(matches) == 1:
        reading.customer = matches[0]
        reading.why.append(f"customer: '{said}' is {matches[0].customer.name} "
                           f"({matches[0].how}, {matches[0].score:.2f})")
    elif matches:
        reading.candidates = matches
        reading.why.append(f"customer: '{said}' fits "
                           + ", ".join(m.customer.name for m in matches))
    elif unmatched:
        reading.unmatched = unmatched
        reading.why.append(f"customer: no customer is called '{unmatched}'")
    elif context.customer:
        reading.customer = CustomerMatch(context.customer, 1.0, "the context")
        reading.why.append(f"customer: {context.customer.name}, from the context")
    return span


def _issue_entities(reading: Reading, text: _Text, index: NameIndex, context: Context) -> None:
    """The issue (or, for alerts, possibly a customer) a status, subscribe or unsubscribe message is about."""
    low = text.low
    if reading.intent != "issue_status":
        events = _events(low)
        reading.event_kinds = [kind for kind in events if kind != "any"]
        reading.event = events[0] if events else ("any" if reading.intent == "subscribe" else None)
        if reading.event:
            reading.why.append(f"event {reading.event}")
    if text.keys:
        reading.issue_key = text.keys[0]
        return
    if reading.intent != "issue_status":
        # Alerts may be about a customer: "this account" is the context's, a name is looked up.
        if CONTEXT_CUSTOMER.search(low):
            _customer(reading, "", index, context)
            return
        if not ANAPHORA.search(low):
            _customer(reading, low, index, Context())
            if reading.customer or reading.candidates or reading.unmatched:
                return
    if context.issue_key:
        reading.issue_key = context.issue_key
        reading.why.append(f"issue {context.issue_key}, from the context")


def _events(low: str) -> list[str]:
    """The events a message names, in the order it names them (a longer phrase wins over a word inside it)."""
    spans = sorted(((m.start(), -m.end(), kind) for kind, pattern in EVENT_PATTERNS for m in pattern.finditer(low)))
    kinds, reach = [], -1
    for start, negative_end, kind in spans:
        if start >= reach and kind not in kinds:
            kinds.append(kind)
        reach = max(reach, -negative_end)
    return kinds


def _show_entities(reading: Reading, text: _Text, index: NameIndex, context: Context) -> None:
    low = text.low
    span = _customer(reading, low, index, context)
    if span:
        low = low[:span[0]] + " " + low[span[1]:]
    filters: dict = {}
    explicit_open = FILTER_OPEN.search(low)
    rest = FILTER_OPEN.sub(" ", low)
    for category, pattern in CATEGORIES:
        if pattern.search(FILTER_ALL.sub(" ", rest)):
            filters["status_category"] = category
            break
    if explicit_open or ("status_category" not in filters and not FILTER_ALL.search(rest)):
        filters["open"] = True
    for name, pattern in TYPES:
        if pattern.search(low):
            filters["type"] = name
            break
    for name, pattern in PRIORITIES:
        if pattern.search(low):
            filters["priority"] = name
            break
    reading.filters = dict(sorted(filters.items()))
    reading.why.append("filters " + (", ".join(f"{k}={v}" for k, v in reading.filters.items()) or "none"))


def _create_entities(reading: Reading, text: _Text, index: NameIndex, context: Context) -> None:
    low = text.low
    verb = CREATE.search(low)
    noun = verb.group("noun")
    for name, pattern in TYPES:
        if pattern.fullmatch(noun) or (noun.startswith(("feature", "enhancement")) and name == "Story"):
            reading.issue_type = name
            reading.why.append(f"issue type {name} from '{noun}'")
            break
    # The summary follows a separator after the noun: a colon or dash first, else "?", "," or "about".
    original = text.original
    offset = _offset_after(original, low, verb.end())
    separator = STRONG_SEPARATOR.search(original, offset) or WEAK_SEPARATOR.search(original, offset)
    head_end = separator.start() if separator else len(original)
    head = original[offset:head_end].lower()
    span = _customer(reading, head, index, context)
    if separator:
        summary = original[separator.end():]
    elif span and head[span[1]:].strip():
        summary = original[offset + span[1]:]
    else:
        summary = ""
    summary = summary.strip().strip("\"'").rstrip(".!").strip()
    if summary:
        reading.summary = (summary[0].upper() + summary[1:])[:255]
        reading.why.append("summary from the text after the customer" if not separator
                           else f"summary after '{separator.group(0).strip()}'")


def _offset_after(original: str, low: str, position: int) -> int:
    """The position in the original text matching `position` of the lower-cased one.

    Both have the same words in the same order (keys became "§", mended words changed length), so the
    word is found by its rank and the position within it carried over.
    """
    low_words = list(re.finditer(r"\S+", low))
    words = list(re.finditer(r"\S+", original))
    for rank, word in enumerate(low_words):
        if word.start() < position <= word.end() and rank < len(words):
            return min(words[rank].start() + position - word.start(), words[rank].end())
    return 0


# ---- follow-ups ----------------------------------------------------------------------------------------

def customers_named(text: str, index: NameIndex) -> list[CustomerMatch]:
    """The customers a bare answer names ("Acme Labs", "for globex"): one, several, or none."""
    return _match_customer(_customer_words(text.lower()), index)[0]


def pick(text: str, labels: list[str]) -> int | None:
    """Which of the offered choices a follow-up names: "the first one", "2", "#3", "last", a label, or words
    only one label holds ("labs" for Acme Labs); None if it names none."""
    low = " ".join(text.lower().translate(str.maketrans(QUOTES)).split()).strip(" ?!.")
    keys = [name_key(label) for label in labels]
    if name_key(low) in keys:
        return keys.index(name_key(low))
    if low in ("yes", "yep", "yeah", "sure", "ok", "okay", "that one", "this one") and len(labels) == 1:
        return 0
    found = PICK.match(low)
    if found:
        which = found.group("which")
        if which in ("last", "bottom"):
            return len(labels) - 1
        for n, words in enumerate(ORDINALS):
            if which in words and n < len(labels):
                return n
    wanted = set(name_key(low).split()) - COMMAND_WORDS
    holders = [n for n, key in enumerate(keys) if wanted and wanted <= set(key.split())]
    return holders[0] if len(holders) == 1 else None
