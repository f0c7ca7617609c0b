// Shared by the catalog's vendor scripts (prepended to each).

// Decimal NOK → integer øre, half away from zero, from the number's decimal
// text (never through binary floating point): 199.2 → 19920.
function ore(amount) {
  const text = typeof amount === 'number' ? String(amount) : String(amount ?? '').trim();
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) throw new Error(`'${text}' is not an amount`);
  const frac = (m[3] || '') + '000';
  let cents = Number(m[2]) * 100 + Number(frac.slice(0, 2));
  if (Number(frac[2]) >= 5) cents += 1;
  return m[1] ? -cents : cents;
}

// Net of 25 % VAT, in øre, half away from zero: 9900 → 7920.
const netOf25 = grossOre => Math.floor((grossOre * 200 + 125) / 250);

// The calendar date in Europe/Oslo of an ISO 8601 instant (EU summer time:
// last Sunday of March to last Sunday of October, 01:00 UTC).
function osloDate(iso) {
  const t = new Date(iso);
  if (isNaN(t)) throw new Error(`created_at '${iso}' is not a date`);
  const y = t.getUTCFullYear();
  const lastSunday = month => {
    const last = new Date(Date.UTC(y, month + 1, 0));
    return Date.UTC(y, month, last.getUTCDate() - last.getUTCDay(), 1);
  };
  const summer = t.getTime() >= lastSunday(2) && t.getTime() < lastSunday(9);
  return new Date(t.getTime() + (summer ? 2 : 1) * 3600e3).toISOString().slice(0, 10);
}

const addDays = (date, days) => new Date(Date.parse(date + 'T00:00:00Z') + days * 86400e3).toISOString().slice(0, 10);

// An object without its null, undefined and empty-text fields.
const pruned = obj => Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null && v !== undefined && v !== ''));
