/**
 * Python's float printing, digit for digit: repr (shortest round trip), Python 2 str() (12
 * significant digits), and the e/f/g conversions of `%` and format(). Rounding works on the
 * exact binary value and breaks exact ties to even, as Python does (JavaScript's toFixed and
 * toExponential round ties up: `'%.1f' % 1.25` must be 1.2, not 1.3).
 */

/** x (finite, ≥ 0) exactly, as digits / 10^scale. */
function exact(x: number): { digits: bigint; scale: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exp = Math.max(biased, 1) - 1075;
  return exp >= 0 ? { digits: mantissa << BigInt(exp), scale: 0 } : { digits: mantissa * 5n ** BigInt(-exp), scale: -exp };
}

/** round(x · 10^p) for finite x ≥ 0: ties to even (formatting) or away from zero (Python 2's round()). */
export function scaledRound(x: number, p: number, ties: 'even' | 'away'): bigint {
  const { digits, scale } = exact(x);
  const shift = scale - p;
  if (shift <= 0) return digits * 10n ** BigInt(-shift);
  const unit = 10n ** BigInt(shift);
  const q = digits / unit;
  const twice = (digits % unit) * 2n;
  return twice > unit || (twice === unit && (ties === 'away' || q % 2n === 1n)) ? q + 1n : q;
}

/** x ≥ 0 with p decimals (%f). */
function fixed(x: number, p: number, alt: boolean): string {
  const s = scaledRound(x, p, 'even').toString().padStart(p + 1, '0');
  return p > 0 ? `${s.slice(0, -p)}.${s.slice(-p)}` : alt ? `${s}.` : s;
}

/** x ≥ 0 rounded to p + 1 significant digits: the digits and the decimal exponent. */
function significant(x: number, p: number): { digits: string; exp: number } {
  if (x === 0) return { digits: '0'.repeat(p + 1), exp: 0 };
  const { digits, scale } = exact(x);
  let exp = digits.toString().length - 1 - scale;
  let n = scaledRound(x, p - exp, 'even');
  if (n.toString().length > p + 1) n = scaledRound(x, p - ++exp, 'even');
  return { digits: n.toString(), exp };
}

/** x ≥ 0 in exponent form with p decimals (%e). */
function exponent(x: number, p: number, alt: boolean): string {
  const { digits, exp } = significant(x, p);
  const mantissa = p > 0 ? `${digits[0]}.${digits.slice(1)}` : alt ? `${digits}.` : digits;
  return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/**
 * x ≥ 0 with p significant digits, in fixed form for exponents from -4 to below `fixedBelow`
 * (p for %g), else in exponent form; `alt` keeps trailing zeros.
 */
function general(x: number, p: number, alt: boolean, fixedBelow = Math.max(p, 1)): string {
  const P = Math.max(p, 1);
  const { exp } = significant(x, P - 1);
  const s = exp >= -4 && exp < fixedBelow ? fixed(x, P - 1 - exp, alt) : exponent(x, P - 1, alt);
  if (alt) return s;
  return s.replace(/(\.\d*?)0+(?=e|$)/, '$1').replace(/\.(?=e|$)/, '');
}

/** Python's e/E/f/F/g/G conversion of x ≥ 0 (the caller adds the sign). */
export function formatFloat(x: number, conv: string, precision: number | undefined, alt: boolean): string {
  if (!Number.isFinite(x)) return conv === conv.toUpperCase() ? (Number.isNaN(x) ? 'NAN' : 'INF') : Number.isNaN(x) ? 'nan' : 'inf';
  const p = precision ?? 6;
  const lower = conv.toLowerCase();
  const s = lower === 'f' ? fixed(x, p, alt) : lower === 'e' ? exponent(x, p, alt) : general(x, p, alt);
  return conv === lower ? s : s.toUpperCase();
}

/**
 * Python 2's str() of a float: 12 significant digits, and always a '.' or an exponent (the
 * exponent form starts one digit early, so that the added '.0' stays within the digits).
 */
export function floatStr(x: number, precision = 12): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const s = general(Math.abs(x), precision, false, Math.max(precision, 1) - 1);
  return sign + (/[.e]/.test(s) ? s : `${s}.0`);
}

/** Python's repr() of a float: shortest round-trip digits, exponent outside [1e-4, 1e16). */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let s: string;
  if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    s = intPart + '.' + (frac || '0');
  } else s = '0.' + '0'.repeat(-exp - 1) + digits;
  return (neg ? '-' : '') + s;
}
