"""Normalise what debtors type into values: amounts, installment counts, dates, counter-offers.

The server, not Rasa, decides values: Rasa's entities are only hints, and these pure functions
read the raw message. They are deliberately rule-based and predictable; every rule below is
covered by ``tests/unit/test_parsing.py``.

Normalisation (shared by every parser)
    Lower-case; "2 mil", "1,5 mil", "2k", "1,2 milhão" are expanded with digits and marked as money
    (``r$``); numbers in words become digits with ``text_to_num.alpha2digit`` (Portuguese:
    "mil e quinhentos" → 1500, "dez" → 10; it leaves "um/uma/dois/duas" alone, so the installment
    parser maps those itself); "2 mil e quinhentos" is summed; accents are removed.

Amounts (``parse_amount``)
    Numbers in Brazilian writing: "1.500,00", "1.500" (a dot or comma followed by exactly three
    digits groups thousands), "1500,50"/"1500.50" (one or two digits after the last separator are
    cents). Not amounts: CNPJs (full or root), phones, dates ("dia 15", "15/12", "15 de
    dezembro"), times, percentages, ordinals, document numbers ("nota 1234"), counts followed by a
    noun ("10x", "12 parcelas", "3 dias", "2 lojas"), the count in "10 de 300", "em 6" (an
    installment count, up to 99), and bare integers of 8 digits or more (CNPJ roots, phones).
    If any candidate carries a money mark (``R$``, "reais", "conto", a "mil" scale, thousands
    separators or cents) the first such is returned, otherwise the first bare number.

Installments (``parse_installments``)
    The earliest of: "10x", "10 vezes", "12 parcelas/prestações/mensalidades/pagamentos",
    "em 10 meses", "parcelar em 6", "dividir em 6", "em 3", "10 de 300"; between 1 and 99.

Dates (``parse_date``)
    Explicit dates ("2026-12-15", "15/12/2026", "15/12", "15 de dezembro") first, then "hoje",
    "amanhã", "depois de amanhã", "fim do mês (que vem)", "dia 15 do mês que vem", "dia 15" (this
    month if not yet past, else next month; a day the month lacks is clamped to its last day),
    "daqui a N dias/semanas/meses", weekdays (next such day, never today), "semana que vem"
    (+7 days), "mês que vem" (same day next month, clamped). Never a past date: an explicit
    date in the past gives None; one without a year rolls over to next year.

Counter-offers (``parse_counter_offer``), first rule that applies:
    1. "entrada"/"sinal" present → down_payment: the amount next to that word (else the first),
       plus the installment count if one is given ("1000 de entrada e o resto em 10x").
    2. A per-installment mark → monthly_amount: "500 por mês", "ao mês", "mensal", "parcelas de
       300", "10x de 300", "3 vezes de 500", "10 de 300"; installments when given.
    3. "X em N vezes" (a total to split) → monthly_amount of X/N (half-up), installments N.
    4. A cash mark → cash_amount: "à vista", "pix", "de uma vez", "quitar", "1x", "em dinheiro".
    5. Otherwise None: a bare "consigo 500" is ambiguous, and the caller knows the context.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from text_to_num import alpha2digit

CENT = Decimal("0.01")
MAX_INSTALLMENTS = 99  # a larger "count" is almost surely an amount or a year

_MONEY_MARK = "r$"


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_SCALES = {"mil": 1000, "k": 1000, "milhao": 1_000_000, "milhoes": 1_000_000}
# "um mil" confuses alpha2digit ("1 1000"); "mil" alone means the same thing.
_UM_MIL_RE = re.compile(r"\bum\s+mil\b")
_DIGIT_SCALE_RE = re.compile(r"(?<![\w.,])(?:r\$\s*)?(\d+(?:[.,]\d+)?)\s*(mil|k|milh(?:ao|ão|oes|ões))(?!\w)")
# "2 mil e quinhentos" → "r$2000 e 500" after alpha2digit: sum them, unless the second number
# is a count or a date ("2 mil e 10 parcelas", "2 mil e 15/12").
_THOUSANDS_AND_RE = re.compile(
    r"r\$(\d+000)\s+e\s+(\d{1,3})(?![\d.,/:%\w])(?!\s*(?:x\b|vez|parcela|prest|mes|dia|seman|ano|hora|de\s))"
)
_SPACES_RE = re.compile(r"\s+")


def _strip_accents(text: str) -> str:
    # NFD (not NFKD) keeps "ª"/"º" intact, so ordinals stay recognisable.
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def _expand_digit_scale(match: re.Match[str]) -> str:
    value = _to_decimal(match.group(1))
    if value is None:
        return match.group(0)
    scale = _SCALES[_strip_accents(match.group(2))]
    # Plain digits, no exponent: "1,5 mil" → "r$1500", "1,25k" → "r$1250".
    return f"{_MONEY_MARK}{format((value * scale).normalize(), 'f')}"


def _sum_thousands(match: re.Match[str]) -> str:
    return f"{_MONEY_MARK}{int(match.group(1)) + int(match.group(2))}"


def _normalize(text: str) -> str:
    lowered = _UM_MIL_RE.sub("mil", unicodedata.normalize("NFC", text).lower())
    expanded = _DIGIT_SCALE_RE.sub(_expand_digit_scale, lowered)
    digits = alpha2digit(expanded, "pt")
    digits = _THOUSANDS_AND_RE.sub(_sum_thousands, digits)
    return _SPACES_RE.sub(" ", _strip_accents(digits)).strip()


def _to_decimal(token: str) -> Decimal | None:
    """Read "1.500,00", "1.500", "1500,5", "1500.50", "1,234.56" (separator rules in the docstring)."""
    seps = [i for i, ch in enumerate(token) if ch in ".,"]
    if not seps:
        digits = token
    else:
        last = seps[-1]
        tail = token[last + 1 :]
        if len(tail) in (1, 2):  # cents after the last separator
            digits = re.sub(r"[.,]", "", token[:last]) + "." + tail
        elif len(tail) == 3:  # every separator groups thousands
            digits = re.sub(r"[.,]", "", token)
        else:
            return None
        # Groups before the last separator must be thousands ("1.2.3" is no number).
        groups = re.split(r"[.,]", token[:last] if len(tail) in (1, 2) else token)
        if len(groups) > 1 and any(len(g) != 3 for g in groups[1:]):
            return None
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------------

_MONTHS = {
    "janeiro": 1,
    "fevereiro": 2,
    "marco": 3,
    "abril": 4,
    "maio": 5,
    "junho": 6,
    "julho": 7,
    "agosto": 8,
    "setembro": 9,
    "outubro": 10,
    "novembro": 11,
    "dezembro": 12,
}
_MONTH_NAMES = "|".join(_MONTHS)

_COUNT_NOUNS = (
    r"x|vez|vezes|parcelas?|parcelinhas?|prestac(?:ao|oes)|mensalidades?|pagamentos?|meses|mes|"
    r"dias?|semanas?|anos?|horas?|minutos?|boletos?|faturas?|notas?|lojas?|filia(?:l|is)|"
    r"funcionarios?|pessoas?|clientes?|titulos?|tentativas?"
)

# Spans that hold digits but neither an amount nor a count. Wider patterns first.
_NON_QUANTITY_PATTERNS = [
    # CNPJ, numeric and alphanumeric, full or root (a root needs its dots: "12.345.678").
    r"(?<![\w$])[0-9a-z]{2}\.?[0-9a-z]{3}\.?[0-9a-z]{3}/[0-9a-z]{4}-?\d{2}(?!\w)",
    r"(?<![\w$.,])\d{14}(?!\w)",
    r"(?<![\w$.,])(?<!r\$ )\d{2}\.\d{3}\.\d{3}(?![\w.,])",
    # Phones: "+55 (11) 98765-4321", "(11) 98765-4321", "11 98765 4321", "98765-4321".
    r"\+\d[\d\s()-]{9,16}\d",
    r"(?:\(\d{2}\)\s?|\b\d{2}\s)?9?\d{4}-\d{4}(?!\d)",
    r"(?:\(\d{2}\)\s?|\b\d{2}\s)9\d{4}\s?\d{4}(?!\d)",
    # Dates.
    r"\d{4}-\d{1,2}-\d{1,2}",
    r"\d{1,2}/\d{1,2}(?:/\d{2,4})?",
    rf"(?:dia\s+)?\d{{1,2}}\s+de\s+(?:{_MONTH_NAMES})(?:\s+de\s+\d{{4}})?",
    r"\bdia\s+\d{1,2}\b",
    r"\bdaqui\s+(?:a\s+)?\d+",
    # Times, percentages, ordinals.
    r"\b\d{1,2}\s?h(?:\d{2})?\b|\b\d{1,2}:\d{2}\b",
    r"(?<![\d.,])\d+(?:[.,]\d+)?\s?(?:%|por\s?cento)",
    r"(?<!\d)\d+\s?[ªº°]",
]
_NOT_AMOUNT_PATTERNS = [
    *_NON_QUANTITY_PATTERNS,
    # Document numbers.
    r"\b(?:n[ºo°]\.?|numero|nf-?e?|nota(?:\s+fiscal)?|fatura|pedido|protocolo|boleto|titulo)\s*:?\s*#?\d+(?![.,]\d)",
    r"#\d+",
    # Counts: "10x", "3x500", "12 parcelas", "3 dias", "2 lojas"; "10 de 300"; "parcelar em 6", "em 6".
    r"(?<![\d.,$])\d{1,3}\s?x(?![a-z])",
    rf"(?<![\d.,$])\d{{1,3}}\s?(?:{_COUNT_NOUNS})(?!\w)",
    r"(?<![\d.,$])\d{1,2}(?=\s+de\s+(?:r\$\s*)?\d)",
    r"\b(?:parcel\w*|divid\w*|em)\s+(?:em\s+)?\d{1,2}(?![\d.,]|\s*(?:reais|real|contos?|pilas?)\b)",
]
_NOT_AMOUNT_RE = re.compile("|".join(f"(?:{p})" for p in _NOT_AMOUNT_PATTERNS))

_CANDIDATE_RE = re.compile(
    r"(?<![\w.,/-])(r\$\s*)?(\d+(?:[.,]\d+)*)(?!\w|/\d|[.,]\d)(\s*(?:reais|real|contos?|pilas?)\b)?"
)


@dataclass(frozen=True)
class _Amount:
    value: Decimal
    start: int
    end: int
    marked: bool  # carries an explicit money mark


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    """Blank out the matches, keeping offsets so positions still line up with ``text``."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _amounts(norm: str) -> list[_Amount]:
    masked = _mask(norm, _NOT_AMOUNT_RE)
    found: list[_Amount] = []
    for m in _CANDIDATE_RE.finditer(masked):
        token = m.group(2)
        value = _to_decimal(token)
        if value is None or value <= 0:
            continue
        has_currency = bool(m.group(1) or m.group(3))
        formatted = bool(re.search(r"[.,]\d{1,3}$", token))
        if not has_currency and not formatted and len(token) >= 8:
            continue  # a CNPJ root, a phone or an id, not a debt written without "R$"
        found.append(_Amount(_money(value), m.start(), m.end(), has_currency or formatted))
    return found


def _pick(amounts: list[_Amount]) -> _Amount | None:
    marked = [a for a in amounts if a.marked]
    if marked:
        return marked[0]
    return amounts[0] if amounts else None


def parse_amount(text: str) -> Decimal | None:
    """The amount of money in ``text`` (two places), or None; see the module docstring."""
    picked = _pick(_amounts(_normalize(text)))
    return picked.value if picked else None


# ---------------------------------------------------------------------------------------------
# Installments
# ---------------------------------------------------------------------------------------------

# alpha2digit leaves numbers below three in words; a count of one or two is still a count.
# "de uma vez" and "mais uma vez" mean "all at once" and "again", not one installment.
_SMALL_COUNT_RE = re.compile(
    r"(?<!\bde )(?<!\bmais )\b(um|uma|dois|duas)\b"
    r"(?=\s*(?:x\b|vez|vezes|parcelas?|prestac|mensalidades?|pagamentos?|meses))"
    r"|(?<=\bem )(um|uma|dois|duas)\b"
)
_SMALL_COUNTS = {"um": "1", "uma": "1", "dois": "2", "duas": "2"}

_NOT_COUNT_PATTERNS = [
    *_NON_QUANTITY_PATTERNS,
    r"r\$\s*\d+(?:[.,]\d+)*",
    r"(?<![\d.,])\d+(?:[.,]\d+)*\s*(?:reais|real|contos?|pilas?)\b",
]
_NOT_COUNT_RE = re.compile("|".join(f"(?:{p})" for p in _NOT_COUNT_PATTERNS))

_COUNT_PATTERNS = [
    r"(?<![\d.,])(\d{1,3})\s?x(?![a-z])",
    r"(?<![\d.,])(\d{1,3})\s*(?:vez|vezes|parcelas?|parcelinhas?|prestac(?:ao|oes)|mensalidades?|pagamentos?)\b",
    r"\bem\s+(\d{1,3})\s*meses\b",
    r"\b(?:parcel\w*|divid\w*|em)\s+(?:em\s+)?(\d{1,2})(?![\d.,])(?!\s*(?:dias?|semanas?|anos?|horas?|meses|mes)\b)",
    r"(?<![\d.,])(\d{1,2})\s+de\s+\d",
]
_COUNT_RE = re.compile("|".join(f"(?:{p})" for p in _COUNT_PATTERNS))


def _count_text(text: str) -> str:
    norm = _normalize(text)
    norm = _SMALL_COUNT_RE.sub(lambda m: _SMALL_COUNTS[m.group(1) or m.group(2)], norm)
    return _mask(norm, _NOT_COUNT_RE)


def parse_installments(text: str) -> int | None:
    """The installment count in ``text`` (1–99), or None; see the module docstring."""
    for m in _COUNT_RE.finditer(_count_text(text)):
        count = int(next(g for g in m.groups() if g is not None))
        if 1 <= count <= MAX_INSTALLMENTS:
            return count
    return None


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_WEEKDAYS = {"segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6}
_WEEKDAY_NAMES = list(_WEEKDAYS)
_WEEKDAY_RE = re.compile(
    r"\b(segunda|terca|quarta|quinta|sexta|sabado|domingo)(?:[\s-]?feira)?\b"
    # "segunda parcela", "segunda via": ordinals, not weekdays
    r"(?!\s+(?:parcela|vez|via|opcao|proposta|prestacao|fatura|boleto))"
)
_NEXT_MONTH = r"(?:do\s+)?(?:mes\s+que\s+vem|proximo\s+mes)"


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _last_day(year, month)))


def _add_months(start: date, months: int) -> date:
    index = start.month - 1 + months
    return _clamped(start.year + index // 12, index % 12 + 1, start.day)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _explicit_date(norm: str, today: date) -> date | None:
    if m := re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", norm):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.search(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d/])", norm):
        return _day_month(today, int(m[1]), int(m[2]), m[3])
    if m := re.search(rf"\b(\d{{1,2}})\s+de\s+({_MONTH_NAMES})(?:\s+(?:de\s+)?(\d{{4}}))?\b", norm):
        return _day_month(today, int(m[1]), _MONTHS[m[2]], m[3])
    return None


def _day_month(today: date, day: int, month: int, year_text: str | None) -> date | None:
    if year_text is not None:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _safe_date(year, month, day)
    found = _safe_date(today.year, month, day)
    if found is not None and found < today:
        found = _safe_date(today.year + 1, month, day)
    return found


def _day_of_month(today: date, day: int) -> date | None:
    if not 1 <= day <= 31:
        return None
    this_month = _clamped(today.year, today.month, day)
    if this_month >= today:
        return this_month
    following = _add_months(today.replace(day=1), 1)
    return _clamped(following.year, following.month, day)


def _relative_date(norm: str, today: date) -> date | None:
    if re.search(r"\bdepois\s+de\s+amanha\b", norm):
        return today + timedelta(days=2)
    if re.search(r"\bamanha\b", norm):
        return today + timedelta(days=1)
    if re.search(rf"\b(?:fim|final)\s+d[oe]\s+{_NEXT_MONTH}", norm):
        following = _add_months(today.replace(day=1), 1)
        return following.replace(day=_last_day(following.year, following.month))
    if re.search(r"\b(?:fim|final)\s+do\s+mes\b", norm):
        return today.replace(day=_last_day(today.year, today.month))
    if m := re.search(rf"\bdia\s+(\d{{1,2}})\s+{_NEXT_MONTH}", norm):
        following = _add_months(today.replace(day=1), 1)
        return _clamped(following.year, following.month, int(m[1])) if 1 <= int(m[1]) <= 31 else None
    if m := re.search(r"\bdia\s+(\d{1,2})(?![\d/])", norm):
        return _day_of_month(today, int(m[1]))
    if m := re.search(r"\b(?:daqui\s+(?:a\s+)?|em\s+)(\d{1,3})\s+(dias?|semanas?|mes|meses)\b", norm):
        count, unit = int(m[1]), m[2]
        if unit.startswith("dia"):
            return today + timedelta(days=count)
        if unit.startswith("semana"):
            return today + timedelta(weeks=count)
        return _add_months(today, count)
    if m := _WEEKDAY_RE.search(norm):
        ahead = (_WEEKDAYS[m[1]] - today.weekday() - 1) % 7 + 1  # 1..7: never today
        return today + timedelta(days=ahead)
    if re.search(r"\b(?:semana\s+que\s+vem|proxima\s+semana)\b", norm):
        return today + timedelta(days=7)
    if re.search(rf"\b{_NEXT_MONTH}\b", norm):
        return _add_months(today, 1)
    # Last: "hoje não dá, só sexta" means Friday.
    if re.search(r"\bhoje\b", norm):
        return today
    return None


def _date_text(text: str) -> str:
    # Weekdays are read before alpha2digit, which turns "quinta"/"sexta" into ordinals ("5ª").
    lowered = _strip_accents(unicodedata.normalize("NFC", text).lower())
    lowered = re.sub(r"\bdia\s+(?:primeiro|1o|1º)\b", "dia 1", lowered)
    lowered = re.sub(r"\b(?:daqui\s+(?:a\s+)?|em\s+)(?:um|uma)\s+(semana|mes)\b", r"daqui a 1 \1", lowered)
    lowered = re.sub(
        r"\b(?:daqui\s+(?:a\s+)?|em\s+)(?:dois|duas)\s+(semanas|meses|dias)\b", r"daqui a 2 \1", lowered
    )
    weekday_safe = _WEEKDAY_RE.sub(lambda m: f"wd{_WEEKDAYS[m[1]]}wd", lowered)
    converted = alpha2digit(weekday_safe, "pt")
    restored = re.sub(r"wd(\d)wd", lambda m: _WEEKDAY_NAMES[int(m[1])], converted)
    return _SPACES_RE.sub(" ", restored)


def parse_date(text: str, today: date) -> date | None:
    """The date meant in ``text`` relative to ``today``, never in the past; or None."""
    norm = _date_text(text)
    found = _explicit_date(norm, today) or _relative_date(norm, today)
    if found is None or found < today:
        return None
    return found


# ---------------------------------------------------------------------------------------------
# Counter-offers
# ---------------------------------------------------------------------------------------------


class CounterOfferKind(StrEnum):
    MONTHLY_AMOUNT = "monthly_amount"
    DOWN_PAYMENT = "down_payment"
    CASH_AMOUNT = "cash_amount"


@dataclass(frozen=True)
class CounterOffer:
    kind: CounterOfferKind
    amount: Decimal
    installments: int | None = None


_DOWN_PAYMENT_RE = re.compile(r"\b(?:entrada|sinal)\b")
_MONTHLY_AFTER_RE = re.compile(
    r"^\s*(?:por|ao|a|/|p/|cada)\s*mes\b|^\s*(?:mensa(?:l|is)|todo\s+mes|por\s+parcela|cada\s+parcela)\b"
)
_MONTHLY_BEFORE_RE = re.compile(
    r"(?:\b(?:parcelas?|parcelinhas?|prestac(?:ao|oes)|mensalidades?)\s+(?:de|em)\s*"
    r"|\d{1,3}\s?x\s*(?:de\s*)?|\b\d{1,3}\s+vezes\s+(?:de\s*)?|(?<![\d.,])\d{1,2}\s+de\s*)$"
)
_SPLIT_TOTAL_AFTER_RE = re.compile(
    r"^\s*(?:em|dividid[oa]s?\s+em|parcelad[oa]s?\s+em)\s+\d{1,3}\s*(?:x(?![a-z])|vezes|parcelas|prestac)"
)
_CASH_RE = re.compile(
    r"\b(?:a\s+vista|avista|pix|de\s+uma\s+vez|numa\s+tacada|uma\s+vez\s+so|pagamento\s+unico|"
    r"quit\w*|1\s?x|em\s+1\s+vez|em\s+dinheiro|em\s+especie)\b"
)


# The words that qualify an amount sit right next to it; bounded windows also keep every
# check linear in the message length.
_WINDOW = 40


def _after(norm: str, amount: _Amount) -> str:
    return norm[amount.end : amount.end + _WINDOW]


def _before(norm: str, amount: _Amount) -> str:
    return norm[max(0, amount.start - _WINDOW) : amount.start]


def _next_to_down_payment(norm: str, amounts: list[_Amount]) -> _Amount | None:
    for a in amounts:
        if re.match(
            r"^\s*(?:(?:de|como|pra|para|na|no)\s+)?(?:entrada|sinal)\b", _after(norm, a)
        ) or re.search(r"\b(?:entrada|sinal)\s*(?:de|:)?\s*$", _before(norm, a)):
            return a
    return None


def parse_counter_offer(text: str) -> CounterOffer | None:
    """Classify a counter-offer; rules in the module docstring. None when no kind applies."""
    norm = _normalize(text)
    amounts = _amounts(norm)
    if not amounts:
        return None
    installments = parse_installments(text)

    if _DOWN_PAYMENT_RE.search(norm):
        chosen = _next_to_down_payment(norm, amounts) or amounts[0]
        return CounterOffer(CounterOfferKind.DOWN_PAYMENT, chosen.value, installments)

    for a in amounts:
        if _MONTHLY_AFTER_RE.search(_after(norm, a)) or _MONTHLY_BEFORE_RE.search(_before(norm, a)):
            return CounterOffer(CounterOfferKind.MONTHLY_AMOUNT, a.value, installments)

    for a in amounts:
        if installments and _SPLIT_TOTAL_AFTER_RE.search(_after(norm, a)):
            return CounterOffer(CounterOfferKind.MONTHLY_AMOUNT, _money(a.value / installments), installments)

    if _CASH_RE.search(norm):
        picked = _pick(amounts)
        assert picked is not None  # amounts is not empty
        return CounterOffer(CounterOfferKind.CASH_AMOUNT, picked.value)
    return None
