// Options carry no id and no `for` (over a hundred of them on the questionnaire: page weight, issue
// 19): a test names one 'in-<question>-<option>' and finds it inside its question (#q-<question>).
function parts(id) {
  const [, q, o] = /^in-([^-]+)-(.+)$/.exec(id);
  return [q, o];
}

export function optionInput(id) {
  const [q, o] = parts(id);
  return `#q-${q} input[value="${o}"]`;
}

export function optionLabel(id) {
  const [q, o] = parts(id);
  return `#q-${q} label:has(> input[value="${o}"])`;
}
