export { generateKeys, type KeyNeed, type KeyPhaseResult } from './phase.js';
export type { KeySpec, KeyType } from './spec.js';
