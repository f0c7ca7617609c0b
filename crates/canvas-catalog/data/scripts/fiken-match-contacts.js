// Fiken "Get all contacts" after a data source (vendors.md §6.3): every
// record of the data source once, in order, with `contact` (the Fiken
// customer it matches, or null) and `contactMatch` ({field, value}).
const FIELDS = ['name', 'email', 'organizationNumber', 'customerNumber', 'phoneNumber'];
// MyStore orders carry the customer's fields under these names.
const FROM_ORDER = { name: 'customer_address_name', email: 'customer_address_email', phoneNumber: 'customer_address_phone' };
const field = variables.testValue || 'name';
if (!FIELDS.includes(field)) {
  throw new Error(`variable 'testValue': '${field}' is not one of ${FIELDS.join(', ')}`);
}
const key = v => (v === null || v === undefined) ? '' : String(v).trim().toLowerCase();

const contacts = await apps.FIKE.get('/companies/{companySlug}/contacts', { pageSize: 100 }, { paged: true });
const customers = new Map();
for (const c of contacts) {
  const k = key(c[field]);
  // The first match in Fiken's order (creation) wins.
  if (c.customer && !c.inactive && k && !customers.has(k)) customers.set(k, c);
}
log(`${contacts.length} contacts read, ${customers.size} customers told apart by ${field}`);

return (async function* () {
  for await (const r of inputStream) {
    let value = r[field];
    if (value === undefined && FROM_ORDER[field]) value = r[FROM_ORDER[field]];
    if (value === undefined || key(value) === '') value = null;
    const contact = value === null ? null : (customers.get(key(value)) || null);
    yield { ...r, contact, contactMatch: { field, value } };
  }
})();
