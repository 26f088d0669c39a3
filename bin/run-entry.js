// `npm run demo`, `npm run replicas`: node bin/run-entry.js demo/walkthrough [args…]
import { run } from './run.js';

const [entry] = process.argv.splice(2, 1);
await run(entry);
