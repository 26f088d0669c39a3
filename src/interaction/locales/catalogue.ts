/**
 * The words of the login, consent and error pages in one language. A locale is one file in this
 * folder exporting a `Catalogue` (the compiler checks it has every text) and one line in index.ts.
 * Functions take what the sentence needs; everything they return is escaped by the page templates.
 */
export interface Catalogue {
  /** BCP 47 tag, as `<html lang>` and `ui_locales` name it. */
  tag: string;
  /** Its own name for itself (e.g. "Português (Brasil)"). */
  name: string;
  /** Intl formatting of dates. */
  dateLocale: string;
  page: {
    skipToContent: string;
    support: string;
    privacy: string;
    secureNotice: string;
  };
  signIn: {
    title: string;
    heading: string;
    toContinue: string;
    username: string;
    password: string;
    submit: string;
    cancel: string;
    incorrect: string;
    throttled: (wait: string) => string;
  };
  totp: {
    title: string;
    heading: string;
    intro: string;
    code: string;
    submit: string;
    cancel: string;
    incorrect: string;
  };
  wait: { seconds: (n: number) => string; minutes: (n: number) => string };
  consent: {
    title: string;
    heading: string;
    /** Before the client's name: "<client> asks to access your information, <customer>." */
    asksBefore: string;
    asksAfter: (customer: string) => string;
    website: string;
    clientPolicy: string;
    clientTerms: string;
    whatHeading: string;
    seeDetails: string;
    howLongHeading: string;
    until: (date: string) => string;
    upTo: (duration: string) => string;
    onceOff: (duration: string) => string;
    accountsHeading: string;
    accountsHint: string;
    noAccounts: string;
    noAccountChosen: string;
    withdrawHeading: string;
    /** "You can withdraw this access at any time in <where>." */
    withdrawBefore: string;
    withdrawAfter: string;
    withdrawDefaultWhere: string;
    approve: string;
    deny: string;
    signedInAs: (customer: string) => string;
  };
  durations: { days: (n: number) => string; hours: (n: number) => string; minutes: (n: number) => string };
  /** Headings of the groups the data asked for is shown in. */
  groups: Record<ScopeGroup, string>;
  /** Plain-language texts of scopes (CDS data language for CDR scopes); a deployment adds its own in `ui.scopes`. */
  scopes: Record<string, ScopeText>;
  /** A scope with no text anywhere: never shown by its raw name. */
  unknownScope: string;
  errors: {
    title: string;
    heading: string;
    startAgain: string;
    backTo: (client: string) => string;
    needHelp: string;
    technicalDetails: string;
    errorCode: string;
    /** Situations the gateway knows and words itself. */
    completed: string;
    elsewhere: string;
    formExpired: string;
    signInAtBank: string;
    accountsUnavailable: string;
    busy: (wait: string) => string;
    unavailable: string;
    tooManyRequests: string;
    /** By OAuth error code; `generic` for any other. */
    byCode: Record<string, string> & { generic: string };
  };
}

export type ScopeGroup = 'identity' | 'accounts' | 'transactions' | 'payments' | 'other';

export interface ScopeText {
  group: ScopeGroup;
  title: string;
  /** The data the scope covers, one line each (a CDS data cluster's permissions). */
  details?: string[];
}

export const SCOPE_GROUPS: readonly ScopeGroup[] = ['identity', 'accounts', 'transactions', 'payments', 'other'];
