/**
 * publish: a build leaves CI for an object store (S3 or a directory), uploading only what the
 * store lacks and switching the store's `current` pointer by compare-and-swap; serve reads builds
 * back from such a store. docs/publishing.md describes the layout and the commands.
 */
export { isStoreUrl, openStore, parseStoreUrl, type ObjectStore, type RequestCounts, type S3Options, type StoreUrl } from './store.js';
export { publishToStore, type PublishOptions, type PublishResult } from './publish.js';
export { mirrorStore, type MirrorOptions, type StoreHealth, type StoreMirror } from './mirror.js';
export { inputHash, mergeShards, parseShard, refuseMissingKeys, shardOf, type MergeResult } from './shard.js';
