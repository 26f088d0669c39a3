import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../config/config-error.js';
import type { GatewayContext } from '../context.js';
import { loadServerCredentials, type ServerCredentials } from './server-credentials.js';

/** A TLS listener and the secure context it needs from the server credentials. */
export interface TlsReloadTarget {
  listener: string;
  server: TlsServer;
  secureContext(credentials: ServerCredentials): Promise<SecureContextOptions> | SecureContextOptions;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'refused';
export interface ReloadResult {
  tls: ReloadOutcome;
  signingKeys: ReloadOutcome;
}

/**
 * Reloads the server certificate and key, the client CAs and the signing keys without a restart:
 * when a watched folder changes (Kubernetes replaces a Secret's files by swapping a symlinked
 * folder, so folders are watched, not files) and on SIGHUP. Each part is read and checked whole
 * before it replaces the one in use; a part that fails is refused, logged with its cause, and the
 * old one stays. New TLS handshakes get the new certificate; connections already open keep theirs.
 */
export class CredentialReload {
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<ReloadResult> | undefined;
  #again = false;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly targets: TlsReloadTarget[],
    private readonly log: FastifyBaseLogger,
  ) {}

  /** The folders of every credential file, watched; a burst of changes reloads once, `debounceMs` after the last. */
  watch(debounceMs: number): void {
    const { tls, keys } = this.ctx.config;
    const files = [tls.cert, tls.key, ...tls.clientCAs, ...(keys.signing ? [keys.signing] : [])];
    for (const dir of new Set(files.map((f) => path.dirname(f)))) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.#schedule(debounceMs));
        watcher.on('error', (err) => this.log.warn({ event: 'credentials_watch_failed', dir, cause: err.message }, `watching ${dir} for new credentials failed: reload with SIGHUP`));
        this.#watchers.push(watcher);
      } catch (err) {
        this.log.warn({ event: 'credentials_watch_failed', dir, cause: (err as Error).message }, `cannot watch ${dir} for new credentials: reload with SIGHUP`);
      }
    }
  }

  /** Reads everything again now (SIGHUP); a reload asked for while one runs runs once more after it. */
  reload(trigger: 'file_change' | 'sighup' | 'request'): Promise<ReloadResult> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#reloadAll(trigger).finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.reload(trigger);
      }
    });
    return this.#running;
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers) watcher.close();
  }

  #schedule(debounceMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload('file_change'), debounceMs);
    this.#timer.unref();
  }

  async #reloadAll(trigger: string): Promise<ReloadResult> {
    const result = { tls: await this.#reloadTls(trigger), signingKeys: await this.#reloadSigningKeys(trigger) };
    for (const [what, outcome] of Object.entries(result)) this.ctx.metrics?.credentialReloads.inc({ what, outcome });
    return result;
  }

  async #reloadTls(trigger: string): Promise<ReloadOutcome> {
    const current = this.ctx.credentials;
    let next: ServerCredentials;
    let contexts: [TlsReloadTarget, SecureContextOptions][];
    try {
      next = await loadServerCredentials(this.ctx.config.tls);
      if (next.cert.equals(current.cert) && next.key.equals(current.key) && sameBuffers(next.clientCAs, current.clientCAs)) return 'unchanged';
      contexts = [];
      for (const target of this.targets) {
        const options = await target.secureContext(next);
        // Built once here so that a combination OpenSSL refuses is refused before any listener changes.
        createSecureContext(options);
        contexts.push([target, options]);
      }
    } catch (err) {
      this.#refused('tls', trigger, err);
      return 'refused';
    }
    for (const [target, options] of contexts) target.server.setSecureContext(options);
    // The same object stays in the context: whoever holds it sees the new files.
    Object.assign(current, next);
    this.log.info(
      { event: 'credentials_reloaded', what: 'tls', trigger, subject: oneLine(next.parsed.server.subject), not_after: next.parsed.server.validTo, client_cas: next.parsed.clientCAs.length },
      'reloaded the server certificate and client CAs: new connections use them',
    );
    return 'reloaded';
  }

  async #reloadSigningKeys(trigger: string): Promise<ReloadOutcome> {
    try {
      if (!(await this.ctx.keys.reload())) return 'unchanged';
    } catch (err) {
      this.#refused('signing_keys', trigger, err);
      return 'refused';
    }
    const keys = this.ctx.keys.describe();
    this.log.info(
      { event: 'credentials_reloaded', what: 'signing_keys', trigger, published: keys.map((k) => k.kid), active: keys.filter((k) => k.active).map((k) => k.kid) },
      'reloaded the signing keys',
    );
    return 'reloaded';
  }

  #refused(what: string, trigger: string, err: unknown): void {
    const cause = err instanceof ConfigError ? err.message : `${(err as Error).message}`;
    this.log.error({ event: 'credentials_reload_refused', what, trigger, cause }, `new ${what === 'tls' ? 'TLS certificate, key or client CAs' : 'signing keys'} refused, the ones in use are kept: ${cause}`);
  }
}

function sameBuffers(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((buffer, i) => buffer.equals(b[i]));
}

export function oneLine(distinguishedName: string): string {
  return distinguishedName.split('\n').join(', ');
}
