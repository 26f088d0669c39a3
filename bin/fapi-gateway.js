#!/usr/bin/env node
// `fapi-gateway` (npx fapi-gateway …, npm start): dist/ when current, else the sources (bin/run.js).
import { run } from './run.js';

await run('main');
