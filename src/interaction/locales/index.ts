import type { Catalogue } from './catalogue.js';
import { en } from './en.js';
import { ptBR } from './pt-BR.js';

/** Every locale the pages speak, by tag. A new one: a file beside these and a line here. */
export const CATALOGUES: Readonly<Record<string, Catalogue>> = Object.fromEntries([en, ptBR].map((c) => [c.tag, c]));

/** The browser's Accept-Language, best first (q=0 dropped; at most 20 ranges read). */
export function acceptedLanguages(header: string | undefined): string[] {
  return (header ?? '')
    .slice(0, 512)
    .split(',')
    .slice(0, 20)
    .map((part) => part.trim().split(';'))
    .map(([tag, ...params]) => ({ tag: tag.trim(), q: Number(params.find((p) => p.trim().startsWith('q='))?.trim().slice(2) ?? 1) }))
    .filter((entry) => entry.tag && entry.tag !== '*' && entry.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((entry) => entry.tag);
}

/**
 * The page language: the first of `ui_locales`, then of Accept-Language, that the deployment offers
 * (exactly, else by its primary language: `pt` and `pt-PT` find `pt-BR`); its default otherwise.
 */
export function chooseLocale(offered: readonly string[], fallback: string, uiLocales: readonly string[] | undefined, acceptLanguage: string | undefined): string {
  const wanted = [...(uiLocales ?? []), ...acceptedLanguages(acceptLanguage)].map((tag) => tag.toLowerCase());
  for (const tag of wanted) {
    const exact = offered.find((o) => o.toLowerCase() === tag);
    if (exact) return exact;
    const primary = tag.split('-')[0];
    const near = offered.find((o) => o.toLowerCase().split('-')[0] === primary);
    if (near) return near;
  }
  return fallback;
}
