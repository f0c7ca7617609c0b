// Tripletex "Post invoices" (vendors.md §7.4): for each MyStore order, its
// customer (found by organization number or e-mail, else created), the
// Tripletex order with the MyStore order id as its reference, its invoice
// and the payment of what is outstanding. Each step looks before it writes,
// so a second run — or a retry after a failure between steps — creates
// nothing twice.
const shippingText = variables.shippingtext || 'Shipping';
const paymentTypeName = variables.paymentType || 'Betalt til bank';
const sendToCustomer = variables.sendToCustomer === true;
// Tripletex's VAT type numbers by rate: 25 % → 3, 15 % → 31, 12 % → 33, 0 % → 5.
const VAT_NUMBERS = { 25: '3', 15: '31', 12: '33', 0: '5' };

const first = answer => (answer && Array.isArray(answer.values) && answer.values.length) ? answer.values[0] : null;

const paymentType = first(await apps.TRIP.get('/invoice/paymentType', { description: paymentTypeName, fields: 'id,description' }));
if (!paymentType) throw new Error(`Tripletex has no payment type '${paymentTypeName}' (variable paymentType)`);

const vatIds = {};
async function vatType(rate) {
  const number = VAT_NUMBERS[Number(rate)];
  if (!number) throw new Error(`VAT rate ${rate} % has no Tripletex VAT type`);
  if (!(number in vatIds)) {
    const found = first(await apps.TRIP.get('/ledger/vatType', { number, fields: 'id,number,percentage' }));
    if (!found) throw new Error(`Tripletex has no VAT type number ${number}`);
    vatIds[number] = found.id;
  }
  return vatIds[number];
}

const customers = new Map();
async function customerFor(order) {
  const org = String(order.organizationNumber ?? '').trim();
  const [field, value] = org ? ['organizationNumber', org] : ['email', String(order.customer_address_email ?? '').trim()];
  if (!value) throw new Error(`order ${order.id}: no customer_address_email to find its customer by`);
  const k = `${field}:${value.toLowerCase()}`;
  if (customers.has(k)) return [customers.get(k), false];
  const found = first(await apps.TRIP.get('/customer', { [field]: value, fields: 'id,name,email', count: 1 }));
  let id = found && found.id;
  const created = id == null;
  if (created) {
    const email = order.customer_address_email;
    const customer = pruned({
      name: order.customer_address_name, email, invoiceEmail: email,
      phoneNumber: order.customer_address_phone, organizationNumber: org, isPrivateIndividual: !org,
    });
    customer.postalAddress = pruned({
      addressLine1: order.customer_address_address, postalCode: order.customer_address_postcode,
      city: order.customer_address_city,
    });
    id = (await apps.TRIP.post('/customer', customer)).body.value.id;
  }
  customers.set(k, id);
  return [id, created];
}

async function orderLines(order) {
  const lines = [];
  for (const p of order.order_products || []) {
    lines.push({ description: String(p.products_name ?? ''), count: Number(p.products_quantity),
                 unitPriceExcludingVatCurrency: Number(p.final_price), vatType: { id: await vatType(p.products_tax) } });
  }
  const shipping = (order.order_totals || []).filter(t => t.class === 'ot_shipping').reduce((s, t) => s + ore(t.value), 0);
  if (shipping > 0) {
    // Net of 25 % VAT to the øre, half away from zero: 99.00 → 79.20.
    const net = netOf25(shipping) / 100;
    lines.push({ description: shippingText, count: 1, unitPriceExcludingVatCurrency: net, vatType: { id: await vatType(25) } });
  }
  return lines;
}

async function tripletexOrder(order, customerId, day) {
  const orderId = String(order.id);
  const window = { customerId, orderDateFrom: day, orderDateTo: addDays(day, 1), fields: 'id,reference' };
  const known = ((await apps.TRIP.get('/order', window)).values || []).find(o => o.reference === orderId);
  if (known) return [known.id, false];
  const made = await apps.TRIP.post('/order', {
    customer: { id: customerId }, orderDate: day, deliveryDate: day, reference: orderId,
    isPrioritizeAmountsIncludingVat: false, orderLines: await orderLines(order),
  });
  return [made.body.value.id, true];
}

async function invoiceOf(tripletexOrderId, customerId, day) {
  const window = { customerId, invoiceDateFrom: day, invoiceDateTo: addDays(day, 1),
                   fields: 'id,invoiceNumber,amount,amountOutstanding,orders(id)' };
  const known = ((await apps.TRIP.get('/invoice', window)).values || [])
    .find(i => (i.orders || []).some(o => o.id === tripletexOrderId));
  if (known) return [known, false];
  const made = await apps.TRIP.put(`/order/${tripletexOrderId}/:invoice`, null, { invoiceDate: day, sendToCustomer });
  return [made.body.value, true];
}

async function post(order) {
  const day = osloDate(order.created_at);
  const [customerId, customerCreated] = await customerFor(order);
  const [tripletexOrderId, orderCreated] = await tripletexOrder(order, customerId, day);
  let [invoice, invoiceCreated] = await invoiceOf(tripletexOrderId, customerId, day);
  let paid = false;
  if (Number(invoice.amountOutstanding) > 0) {
    const query = { paymentDate: day, paymentTypeId: paymentType.id, paidAmount: invoice.amountOutstanding };
    invoice = (await apps.TRIP.put(`/invoice/${invoice.id}/:payment`, null, query)).body.value;
    paid = true;
  }
  const created = customerCreated || orderCreated || invoiceCreated || paid;
  return { orderId: String(order.id), customerId, customerCreated, tripletexOrderId, invoiceId: invoice.id,
           invoiceNumber: invoice.invoiceNumber, amount: invoice.amount,
           paid: Number(invoice.amountOutstanding) <= 0, status: created ? 'created' : 'exists' };
}

return (async function* () {
  for await (const order of inputStream) yield await post(order);
})();
