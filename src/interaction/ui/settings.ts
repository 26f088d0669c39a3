import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../config/config-error.js';
import type { UiSettings } from '../../config/schema.js';
import type { Catalogue, ScopeGroup, ScopeText } from '../locales/catalogue.js';
import { CATALOGUES } from '../locales/index.js';
import { contrastRatio, themeCss } from './theme.js';

const MAX_ASSET_BYTES = 256 * 1024;
const LOGO_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.svg': 'image/svg+xml' };

/** The deployment's pages, prepared once at start: every file read, every text checked. */
export interface Ui {
  bankName: string;
  logo?: { body: Buffer; type: string };
  /** The theme and the deployment's stylesheet, and its URL (versioned by content, so caches never serve an old one). */
  css: string;
  cssPath: string;
  supportUrl?: string;
  privacyUrl?: string;
  locales: readonly string[];
  defaultLocale: string;
  catalogue(locale: string): Catalogue;
  footer(locale: string): string | undefined;
  withdrawal(locale: string): { where: string; url?: string };
  /** A scope's text in `locale` (config first, then the catalogue's), or undefined when nobody wrote one. */
  scopeText(scope: string, locale: string): ScopeText | undefined;
}

export const ASSETS_PREFIX = '/assets';
export const LOGO_PATH = `${ASSETS_PREFIX}/logo`;

async function readAsset(file: string, at: string): Promise<Buffer> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    throw new ConfigError(at, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (body.length > MAX_ASSET_BYTES) throw new ConfigError(at, `${file} is ${body.length} bytes; at most ${MAX_ASSET_BYTES}`);
  return body;
}

/** A text given once or per locale: the locale's, else the default locale's, else English, else any. */
function localised(text: string | Record<string, string> | undefined, locale: string, fallback: string): string | undefined {
  if (text === undefined || typeof text === 'string') return text;
  return text[locale] ?? text[fallback] ?? text.en ?? Object.values(text)[0];
}

/** Every string (and sentence function) of a catalogue by its dotted key. */
function textKeys(value: unknown, prefix = ''): Map<string, 'string' | 'function'> {
  const keys = new Map<string, 'string' | 'function'>();
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (typeof v === 'string') keys.set(key, 'string');
    else if (typeof v === 'function') keys.set(key, 'function');
    else if (v && typeof v === 'object' && key !== 'scopes') for (const [k, kind] of textKeys(v, key)) keys.set(k, kind);
  }
  return keys;
}

function nearest(wanted: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = distance(wanted, c);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return bestScore <= Math.max(2, wanted.length / 3) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const kept = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = kept;
    }
  }
  return row[b.length];
}

/** The catalogue with the deployment's replacements (checked against its keys: a typo fails at start). */
function customised(base: Catalogue, replacements: Record<string, string> | undefined, at: string): Catalogue {
  if (!replacements) return base;
  const keys = textKeys(base);
  const copy = deepCopy({ ...base, scopes: {} }) as Record<string, unknown>;
  for (const [key, text] of Object.entries(replacements)) {
    const kind = keys.get(key);
    if (kind !== 'string') {
      const guess = kind === undefined ? nearest(key, [...keys].filter(([, k]) => k === 'string').map(([k]) => k)) : undefined;
      const hint = kind === 'function' ? ' (a sentence with values in it cannot be replaced)' : guess ? `; did you mean ${guess}?` : '';
      throw new ConfigError(`${at}.${key}`, `is not a text of the pages${hint}`);
    }
    const parts = key.split('.');
    let node = copy;
    for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
    node[parts.at(-1)!] = text;
  }
  return { ...(copy as unknown as Catalogue), scopes: base.scopes };
}

/** A copy of plain objects; strings and functions are shared (they are immutable). */
function deepCopy(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepCopy(v)]));
}

/** External references a stylesheet cannot have: the pages' CSP would block them (and they would leak the customer's visit). */
const EXTERNAL_CSS = /@import\b|url\(\s*['"]?\s*(?!data:)(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

/** Reads and checks `ui:` (files, colours, locales, texts); every problem names its key path. */
export async function loadUi(settings: UiSettings): Promise<Ui> {
  const locales = settings.locales ?? Object.keys(CATALOGUES);
  locales.forEach((tag, i) => {
    if (!CATALOGUES[tag]) throw new ConfigError(`ui.locales[${i}]`, `no catalogue for "${tag}" (there are: ${Object.keys(CATALOGUES).join(', ')})`);
  });
  if (!locales.includes(settings.defaultLocale)) throw new ConfigError('ui.defaultLocale', `"${settings.defaultLocale}" is not one of the locales offered (${locales.join(', ')})`);
  const ratio = contrastRatio(settings.primaryColor, '#ffffff');
  if (ratio < 4.5)
    throw new ConfigError('ui.primaryColor', `white text on ${settings.primaryColor} has a contrast of ${ratio.toFixed(2)}:1, below WCAG AA (4.5:1): choose a darker colour`);
  const catalogues = new Map<string, Catalogue>();
  for (const tag of Object.keys(settings.texts ?? {})) if (!locales.includes(tag)) throw new ConfigError(`ui.texts.${tag}`, `"${tag}" is not one of the locales offered (${locales.join(', ')})`);
  for (const tag of locales) catalogues.set(tag, customised(CATALOGUES[tag], settings.texts?.[tag], `ui.texts.${tag}`));

  let logo: Ui['logo'];
  if (settings.logo) {
    const type = LOGO_TYPES[path.extname(settings.logo).toLowerCase()];
    if (!type) throw new ConfigError('ui.logo', `must be a ${Object.keys(LOGO_TYPES).join(', ')} file`);
    logo = { body: await readAsset(settings.logo, 'ui.logo'), type };
  }
  let css = themeCss(settings.primaryColor);
  if (settings.stylesheet) {
    const own = (await readAsset(settings.stylesheet, 'ui.stylesheet')).toString('utf8');
    const external = EXTERNAL_CSS.exec(own);
    if (external) {
      const line = own.slice(0, external.index).split('\n').length;
      throw new ConfigError('ui.stylesheet', `line ${line} refers to another site or file (${external[0]}): the pages load nothing the gateway does not serve; use the built-in logo or inline data: URLs`);
    }
    css += `\n/* ${path.basename(settings.stylesheet)} */\n${own}`;
  }
  const version = createHash('sha256').update(css).digest('base64url').slice(0, 12);

  const scopes = settings.scopes ?? {};
  for (const [scope, text] of Object.entries(scopes))
    for (const tag of Object.keys(text.details ?? {})) if (!locales.includes(tag)) throw new ConfigError(`ui.scopes.${scope}.details.${tag}`, `"${tag}" is not one of the locales offered`);

  const fallback = settings.defaultLocale;
  const catalogue = (locale: string) => catalogues.get(locale) ?? catalogues.get(fallback)!;
  return {
    bankName: settings.bankName,
    ...(logo ? { logo } : {}),
    css,
    cssPath: `${ASSETS_PREFIX}/interaction.css?v=${version}`,
    ...(settings.supportUrl ? { supportUrl: settings.supportUrl } : {}),
    ...(settings.privacyUrl ? { privacyUrl: settings.privacyUrl } : {}),
    locales,
    defaultLocale: fallback,
    catalogue,
    footer: (locale) => localised(settings.footer, locale, fallback),
    withdrawal: (locale) => ({
      where: localised(settings.withdrawal?.where, locale, fallback) ?? catalogue(locale).consent.withdrawDefaultWhere,
      ...(settings.withdrawal?.url ? { url: settings.withdrawal.url } : {}),
    }),
    scopeText: (scope, locale) => {
      const own = Object.hasOwn(scopes, scope) ? scopes[scope] : undefined;
      const built = Object.hasOwn(catalogue(locale).scopes, scope) ? catalogue(locale).scopes[scope] : undefined;
      if (!own) return built;
      const details = own.details?.[locale] ?? own.details?.[fallback] ?? built?.details;
      return { group: (own.group ?? built?.group ?? 'other') as ScopeGroup, title: localised(own.title, locale, fallback)!, ...(details ? { details } : {}) };
    },
  };
}

