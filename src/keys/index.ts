export { generateKeys, type KeyNeed, type KeyPhaseResult } from './phase.js';
export { authorizedKeys, type AuthorizedKeysContext } from './authorized.js';
export type { KeySpec, KeyType } from './spec.js';
