export { bindEntry, newCaches, decryptAll, sha256, type BindContext, type BindCaches, type BindResult, type Decrypted } from './bind.js';
export { selectBest, type Selection } from './select.js';
export { selectDeltas, applyCat, applyDiff } from './deltas.js';
export { authorizedKeys, allowTargets, matchingAllows, parseAuthorizedKeys, type AllowContext, type AllowTarget, type AuthorizedKeysContext } from './generators/authorized-keys.js';
