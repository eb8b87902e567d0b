/**
 * Metadata: groups.xml, clients.xml and the membership fixpoint, with bindery's rules: only
 * listed clients exist (decision 8 (docs/decisions.md)), names are lower-cased (decision 9);
 * Probes/probed.xml adds probe values and probe groups.
 */
export { loadMetadata, parseMetadata, CLIENTS_FILE, type MetadataModel, type MetadataDocument } from './model.js';
export { findClient, groupInCategory, groupStandIn, clientsByAddress } from './lookup.js';
export type { GroupDecl, MembershipRule, RuleCondition } from './groups.js';
