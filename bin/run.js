// Starts one of the gateway's programs (main, demo/walkthrough, demo/replicas) without a needless
// compile: the compiled dist/ when it is newer than every source file, else the TypeScript sources
// through tsx (a development install has it; compiling everything first takes far longer).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time of the files under `dir` (sources, and data such as JSON the build copies). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

export async function run(entry) {
  const compiled = path.join(ROOT, 'dist', `${entry}.js`);
  const source = path.join(ROOT, 'src', `${entry}.ts`);
  const sources = path.join(ROOT, 'src');
  const haveDist = existsSync(compiled);
  if (!existsSync(source) || (haveDist && statSync(compiled).mtimeMs >= newestSource(sources))) return import(pathToFileURL(compiled).href);
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    if (!haveDist) {
      console.error('fapi-gateway: dist/ is missing and tsx (a development dependency) is not installed: run `npm run build` first');
      process.exit(1);
    }
    console.error('fapi-gateway: dist/ is older than src/ (run `npm run build`); running dist/ as it is');
    return import(pathToFileURL(compiled).href);
  }
  register();
  return import(pathToFileURL(source).href);
}
