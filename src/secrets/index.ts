/**
 * Secrets: the passphrases of bcfg2.conf and the environment, and Bcfg2's encrypted-data format
 * (.crypt files, encrypted Properties elements, generated keys at rest).
 */
export { passphrases, passphraseNamed, type Passphrase } from './passphrases.js';
export { encryptText, decryptWith, decryptAny, isEncrypted } from './crypt.js';
