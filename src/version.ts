import { readFileSync } from 'node:fs';

/** The package version, read once (the module sits one folder below package.json in src/ and dist/). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
