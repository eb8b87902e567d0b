/**
 * The client (`bindery fetch`): download this host's configuration, verify it, apply it under
 * --root safely, remember it, report. The parts: transport (HTTPS, caps, deadline), verify
 * (signed record, key chain, freshness, tarball), apply (the safe walk, plan, diff), state.
 */
export { fetchAndApply, expectedClientName, DEFAULT_TIMEOUT_MS, type FetchOptions, type FetchResult } from './run.js';
export { DEFAULT_STATE_DIR } from './state.js';
