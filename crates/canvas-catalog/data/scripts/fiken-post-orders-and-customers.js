// Fiken "Post orders & customers" (vendors.md §6.4): for each order matched
// by "Get all contacts", its customer (matched, created earlier in this
// block, found in Fiken, or created), then one invoice — unless Fiken
// already has an invoice with the order's id as orderReference. A second
// run, or a retry after a failure half-way, creates nothing twice.
const COMPANY = '/companies/{companySlug}';
const VAT = { 25: ['HIGH', '3000'], 15: ['MEDIUM', '3000'], 12: ['LOW', '3000'], 0: ['EXEMPT', '3100'] };
const shippingText = variables.shippingtext || 'Shipping';
const dueDays = Number.isInteger(variables.dueDays) ? variables.dueDays : 14;
const key = v => (v === null || v === undefined) ? '' : String(v).trim().toLowerCase();

const cut = text => String(text ?? '').slice(0, 200);

let bankAccount = variables.bankAccountCode || null;
async function bankAccountCode() {
  if (bankAccount) return bankAccount;
  const accounts = await apps.FIKE.get(`${COMPANY}/bankAccounts`, { inactive: false });
  const normal = (accounts || []).find(a => a.type === 'normal' && !a.inactive);
  if (!normal) throw new Error('Fiken has no active bank account of type normal; set the variable bankAccountCode');
  bankAccount = normal.accountCode;
  return bankAccount;
}

const createdContacts = new Map();
async function contactFor(order) {
  if (order.contact && order.contact.contactId != null) return [order.contact.contactId, false];
  const match = order.contactMatch || {};
  const k = key(match.value);
  if (k && createdContacts.has(k)) return [createdContacts.get(k), false];
  if (k) {
    const query = { [match.field]: String(match.value).trim(), customer: true, inactive: false };
    const found = await apps.FIKE.get(`${COMPANY}/contacts`, query);
    if (Array.isArray(found) && found.length) {
      createdContacts.set(k, found[0].contactId);
      return [found[0].contactId, false];
    }
  }
  const contact = pruned({
    name: order.customer_address_name, email: order.customer_address_email,
    phoneNumber: order.customer_address_phone, customer: true,
  });
  contact.address = pruned({
    streetAddress: order.customer_address_address, postCode: order.customer_address_postcode,
    city: order.customer_address_city, country: order.customer_address_country || 'Norway',
  });
  if (k && contact[match.field] === undefined) contact[match.field] = match.value;
  if (!contact.name) throw new Error(`order ${order.id}: no customer_address_name to create a contact with`);
  const created = await apps.FIKE.post(`${COMPANY}/contacts`, contact);
  if (created.id == null) throw new Error('Fiken created the contact without saying its id (no Location)');
  if (k) createdContacts.set(k, created.id);
  return [created.id, true];
}

function lines(order) {
  const out = (order.order_products || []).map(p => {
    const vat = VAT[Number(p.products_tax)];
    if (!vat) throw new Error(`order ${order.id}: VAT rate ${p.products_tax} % has no Fiken VAT type`);
    return { description: cut(p.products_name), quantity: Number(p.products_quantity),
             unitPrice: ore(p.final_price), vatType: vat[0], incomeAccount: vat[1] };
  });
  const shipping = (order.order_totals || [])
    .filter(t => t.class === 'ot_shipping')
    .reduce((sum, t) => sum + ore(t.value), 0);
  if (shipping > 0) {
    // Net of 25 % VAT, half away from zero: 9900 øre → 7920.
    const net = netOf25(shipping);
    out.push({ description: cut(shippingText), quantity: 1, unitPrice: net, vatType: 'HIGH', incomeAccount: '3000' });
  }
  return out;
}

async function post(order) {
  if (!('contact' in order)) throw new Error("place 'Get all contacts' before 'Post orders & customers'");
  const orderId = String(order.id);
  // Posted already (an earlier run, or a try that failed after posting):
  // nothing is made, not even a contact.
  const existing = await apps.FIKE.get(`${COMPANY}/invoices`, { orderReference: orderId });
  if (Array.isArray(existing) && existing.length) {
    const invoice = existing[0];
    const contactId = invoice.customer ? invoice.customer.contactId : (invoice.customerId ?? null);
    return { orderId, contactId, contactCreated: false, invoiceId: invoice.invoiceId, status: 'exists' };
  }
  const [contactId, contactCreated] = await contactFor(order);
  const day = osloDate(order.created_at);
  const invoice = {
    issueDate: day, dueDate: addDays(day, dueDays), customerId: contactId,
    bankAccountCode: await bankAccountCode(), cash: false, currency: order.currency || 'NOK',
    orderReference: orderId, lines: lines(order),
  };
  const created = await apps.FIKE.post(`${COMPANY}/invoices`, invoice);
  return { orderId, contactId, contactCreated, invoiceId: created.id, status: 'created' };
}

return (async function* () {
  for await (const order of inputStream) yield await post(order);
})();
