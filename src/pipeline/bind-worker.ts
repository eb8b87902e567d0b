import { parentPort, workerData } from 'node:worker_threads';
import { runWorker, type ToWorker, type WorkerData } from './bind-all.js';

/** A bind-and-emit worker: binds (and writes) its shard of clients, posting each outcome as it is done. */
const port = parentPort!;
await runWorker(workerData as WorkerData, (m) => port.postMessage(m), (listener) => port.on('message', (m: ToWorker) => listener(m)));
// Nothing more will come: let the thread end once its messages are out.
port.unref();
