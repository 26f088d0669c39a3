/** A configuration problem, reported to the operator with the key path it concerns. */
export class ConfigError extends Error {
  constructor(
    readonly keyPath: string,
    readonly problem: string,
  ) {
    super(keyPath ? `${keyPath}: ${problem}` : problem);
  }
}

/** `/clients/0/jwks` (JSON pointer) → `clients[0].jwks` */
export function keyPathFromPointer(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

/** Several problems found at once (schema validation): the first's key path, and every one in the message. */
export class ConfigErrors extends ConfigError {
  constructor(
    readonly problems: ConfigError[],
    more = 0,
  ) {
    super(problems[0].keyPath, problems[0].problem);
    if (problems.length > 1 || more > 0)
      this.message = [`${problems.length + more} problems:`, ...problems.map((p) => `  - ${p.message}`), ...(more > 0 ? [`  - and ${more} more`] : [])].join('\n');
  }
}
