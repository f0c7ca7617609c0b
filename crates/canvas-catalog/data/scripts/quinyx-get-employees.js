// Quinyx "API - Get Employees" (vendors.md §2.3): wsdlGetEmployees for each
// key of `apiKeys` (empty: the registration's key), in key order; an
// employee already written (keys overlap: a group key covers its units) is
// skipped; with `badgeNo`, only employees with that badge number.
const given = Array.isArray(variables.apiKeys) ? variables.apiKeys
  : (typeof variables.apiKeys === 'string' ? variables.apiKeys.split(',') : []);
const keys = given.map(k => String(k ?? '').trim()).filter(k => k !== '');
const badgeNo = variables.badgeNo === null || variables.badgeNo === undefined ? '' : String(variables.badgeNo).trim();
const written = new Set();

return (async function* () {
  for (const apiKey of keys.length ? keys : [null]) {
    const params = { sectionId: 0, employeeId: 0, badgeNo, lastModified: '' };
    if (apiKey !== null) params.apiKey = apiKey;
    const employees = await apps.QUIN.call('wsdlGetEmployees', params);
    const list = Array.isArray(employees) ? employees : (employees ? [employees] : []);
    for (const e of list) {
      if (written.has(e.id) || (badgeNo !== '' && String(e.badgeNo ?? '') !== badgeNo)) continue;
      written.add(e.id);
      yield e;
    }
  }
})();
