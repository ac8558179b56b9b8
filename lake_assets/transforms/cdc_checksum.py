"""The lake side of the CDC reconciliation check, in pure PySpark (source side: ``sources/cdc/reconcile``).

Both sides print every value in the text form the capture lands it in, so one md5 per row compares them.
CSV landing gives text columns, hashed as they are. Parquet landing types bool, integer, float, double and
date columns; they are printed here as the CSV would have held them: bool ``t``/``f`` (PostgreSQL), integers
and dates as Spark casts them, and FLOAT/DOUBLE as PostgreSQL prints real/float8 (the form MariaDB's capture
lands too): the shortest digits that read back to the same value, fixed notation for decimal exponents from
-4 to 5 (real) or 14 (float8) without a trailing ``.0``, else ``1.5e+15``.

Spark's own cast of a float or double to text is Java's ``toString`` (``1.0E15``), which on Java before 19 is
not always the shortest (``2.82879384806159008E17``): the digits come from the Schubfach implementation in
jackson-core (a Spark dependency, ``reflect``), the shortest as Java 19+ defines it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

_SHORTEST = {  # Spark type -> (the class printing its shortest digits, first exponent in scientific form)
    "double": ("com.fasterxml.jackson.core.io.schubfach.DoubleToDecimal", 15),
    "float": ("com.fasterxml.jackson.core.io.schubfach.FloatToDecimal", 6),
}


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _texts(df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """One text column ``_t<i>`` per column, in the text form the capture lands (see the module doc).

    Floats take four steps (separate projections, so each step's expression is written once): Java's
    shortest text, its digits and decimal exponent, the one-digit case, the layout.
    """
    types = dict(df.dtypes)
    floats = {i: types[c] for i, c in enumerate(columns) if types[c] in _SHORTEST}
    values = [f"{_q(c)} AS _v{i}" for i, c in enumerate(columns)]
    # 1. Java's text: 1.0E15, 100.0, 0.001, -4.9E-324, NaN, Infinity (NULL cannot be passed: 0 instead)
    out = df.selectExpr(
        *values,
        *[
            f"reflect('{_SHORTEST[t][0]}', 'toString', coalesce(_v{i}, CAST(0 AS {t}))) AS _j{i}"
            for i, t in floats.items()
        ],
    )
    # 2. its significant digits and the decimal exponent of the first one
    step = []
    for i in floats:
        unsigned = f"regexp_replace(_j{i}, '^-', '')"
        mantissa = f"substring_index({unsigned}, 'E', 1)"
        power = f"IF(instr({unsigned}, 'E') > 0, CAST(substring_index({unsigned}, 'E', -1) AS INT), 0)"
        whole = f"substring_index({mantissa}, '.', 1)"
        all_digits = f"concat({whole}, substring_index({mantissa}, '.', -1))"
        leading_zeros = f"(length({all_digits}) - length(TRIM(LEADING '0' FROM {all_digits})))"
        step += [
            f"TRIM(BOTH '0' FROM {all_digits}) AS _d{i}",
            f"{power} + length({whole}) - 1 - {leading_zeros} AS _e{i}",
        ]
    out = out.selectExpr("*", *step)
    # 3. Java keeps two digits where one reads back too (4.9E-324, 1.4E-45: only the smallest subnormals);
    #    PostgreSQL, MariaDB and Python print the one digit.
    step = []
    for i, typ in floats.items():
        rounded = f"CAST(round(CAST(IF(length(_d{i}) = 2, _d{i}, '0') AS INT) / 10.0) AS INT)"
        one = f"IF({rounded} = 10, '1', CAST({rounded} AS STRING))"
        one_exp = f"IF({rounded} = 10, _e{i} + 1, _e{i})"
        use_one = f"(length(_d{i}) = 2 AND CAST(concat({one}, 'e', {one_exp}) AS {typ}) = abs(_v{i}))"
        step += [f"IF({use_one}, {one}, _d{i}) AS _s{i}", f"IF({use_one}, {one_exp}, _e{i}) AS _x{i}"]
    out = out.selectExpr("*", *step)
    # 4. the layout, and every other column's text
    texts = []
    for i, c in enumerate(columns):
        if i in floats:
            texts.append(f"{_float_layout(i, _SHORTEST[floats[i]][1])} AS _t{i}")
        elif types[c] == "boolean":  # PostgreSQL's output function prints t/f
            texts.append(f"CASE WHEN _v{i} THEN 't' WHEN NOT _v{i} THEN 'f' END AS _t{i}")
        else:
            texts.append(f"CAST(_v{i} AS STRING) AS _t{i}")
    return out.selectExpr(*texts)


def _float_layout(i: int, fixed_below: int) -> str:
    """PostgreSQL's layout of digits ``_s<i>`` with first-digit exponent ``_x<i>``; NaN and infinities as Java
    prints them, which is how PostgreSQL does too."""
    digits, exp = f"_s{i}", f"_x{i}"
    before_point = f"rpad(left({digits}, {exp} + 1), {exp} + 1, '0')"
    after_point = f"substring({digits}, {exp} + 2)"
    fixed = (
        f"IF({exp} >= 0, concat({before_point}, IF({after_point} = '', '', concat('.', {after_point}))), "
        f"concat('0.', repeat('0', -{exp} - 1), {digits}))"
    )
    scientific = (
        f"concat(left({digits}, 1), IF(length({digits}) > 1, concat('.', substring({digits}, 2)), ''), "
        f"'e', IF({exp} < 0, '-', '+'), IF(abs({exp}) < 10, '0', ''), abs({exp}))"
    )
    return (
        f"CASE WHEN _v{i} IS NULL THEN NULL "
        f"WHEN isnan(_v{i}) OR abs(_v{i}) = CAST('Infinity' AS DOUBLE) THEN _j{i} "
        f"ELSE concat(IF(left(_j{i}, 1) = '-', '-', ''), CASE WHEN {digits} = '' THEN '0' "
        f"WHEN {exp} BETWEEN -4 AND {fixed_below - 1} THEN {fixed} ELSE {scientific} END) END"
    )


def checksum(df: DataFrame, columns: Sequence[str]) -> tuple[int, int]:
    """(rows, sum of a 60-bit md5 prefix of each row's text) — the same figure the source computes.

    Row text: each column's text form (NULL as ``\\N``) joined by ``|``; the sum is order independent.
    """
    texts = _texts(df, columns)
    text = F.concat_ws("|", *[F.coalesce(F.col(f"_t{i}"), F.lit("\\N")) for i in range(len(columns))])
    part = F.conv(F.substring(F.md5(text), 1, 15), 16, 10).cast("decimal(38,0)")
    row = texts.select(F.count(F.lit(1)).alias("n"), F.sum(part).alias("s")).first()
    return int(row["n"]), int(row["s"] or 0)
