import { parentPort, workerData } from 'node:worker_threads';
import { bindClient, bindContext, reviveDecrypted, reviveRepo, type BindInput } from './bind-all.js';

/** A bind worker: binds its shard of clients and posts each client's result as it is done. */
const { input, hosts } = workerData as { input: BindInput; hosts: string[] };
const revived: BindInput = { ...input, repo: reviveRepo(input.repo), decrypted: reviveDecrypted(input.decrypted) };
const ctx = bindContext(revived);
const byName = new Map(revived.metadata.clients.map((m) => [m.hostname, m]));
for (const host of hosts) {
  parentPort!.postMessage({ binding: bindClient(ctx, byName.get(host)!, revived.plans.get(host) ?? []) });
}
