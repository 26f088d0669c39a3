import { readFileSync } from 'node:fs';
import type { UiSettings } from '../../config/schema.js';
import { outboundFetch, OutboundFetchError, type OutboundFetch } from '../../http/outbound-fetch.js';

/** An account the customer may share, as the bank lists it. */
export interface OfferedAccount {
  id: string;
  label: string;
  /** A second line (masked number, balance): shown under the label. */
  detail?: string;
}

export const MAX_ACCOUNTS = 100;
const MAX_BYTES = 128 * 1024;

export class AccountsUnavailable extends Error {
  override readonly name = 'AccountsUnavailable';
}

/**
 * The bank's list of a customer's accounts (`ui.accounts`): GET `url?sub=<sub>`, answering
 * `{ "accounts": [{ "id", "label", "detail"? }] }`. The URL is the operator's, so it may be inside the
 * network; the answer is bounded (size, time, count, lengths). A failure is an AccountsUnavailable
 * naming the cause (for the operator's log), never a half list.
 */
export class BankAccounts {
  readonly #fetch: OutboundFetch;

  constructor(private readonly settings: NonNullable<UiSettings['accounts']>) {
    const tls = {
      ...(settings.ca ? { ca: readFileSync(settings.ca) } : {}),
      ...(settings.clientCertificate ? { cert: readFileSync(settings.clientCertificate.cert), key: readFileSync(settings.clientCertificate.key) } : {}),
    };
    this.#fetch = outboundFetch({ maxBytes: MAX_BYTES, timeoutMs: settings.timeoutMs, allowAnyAddress: true, ...(Object.keys(tls).length ? { tls } : {}) });
  }

  async list(sub: string): Promise<OfferedAccount[]> {
    const url = new URL(this.settings.url);
    url.searchParams.set('sub', sub);
    let body: unknown;
    try {
      const res = await this.#fetch(url.href, { headers: { accept: 'application/json' } });
      if (res.status !== 200) throw new AccountsUnavailable(`the accounts endpoint answered ${res.status}`);
      body = await res.json().catch(() => {
        throw new AccountsUnavailable('the accounts endpoint did not answer JSON');
      });
    } catch (err) {
      if (err instanceof AccountsUnavailable) throw err;
      throw new AccountsUnavailable(err instanceof OutboundFetchError ? err.message : String(err));
    }
    const list = (body as { accounts?: unknown } | null)?.accounts;
    if (!Array.isArray(list) || list.length > MAX_ACCOUNTS) throw new AccountsUnavailable(`the accounts endpoint must answer { "accounts": [...] } with at most ${MAX_ACCOUNTS} accounts`);
    const seen = new Set<string>();
    return list.map((entry: unknown, i) => {
      const { id, label, detail } = (entry ?? {}) as Record<string, unknown>;
      const ok = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;
      if (!ok(id, 128) || !ok(label, 200) || (detail !== undefined && !ok(detail, 200)) || seen.has(id as string))
        throw new AccountsUnavailable(`accounts[${i}] needs a unique id (at most 128 characters), a label and an optional detail (at most 200)`);
      seen.add(id as string);
      return { id: id as string, label: label as string, ...(detail !== undefined ? { detail: detail as string } : {}) };
    });
  }
}
