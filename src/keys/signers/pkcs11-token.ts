import { ConfigError } from '../../config/config-error.js';

export type Handle = Buffer;
type Attribute = { type: number; value?: number | boolean | string | Buffer };
export interface Mechanism {
  mechanism: number;
  parameter?: Buffer | number | ({ type: number } & Record<string, number>);
}

/**
 * What the gateway uses of pkcs11js, typed here: the package is an optional native dependency, so
 * the code must compile where it did not install.
 */
export interface Pkcs11Api {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseSession(session: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attribute[]): void;
  C_FindObjects(session: Handle, maxObjectCount: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attribute[]): { type: number; value?: unknown }[];
  C_SignInit(session: Handle, mechanism: Mechanism, key: Handle): void;
  C_SignAsync(session: Handle, data: Buffer, signature: Buffer): Promise<Buffer>;
  C_GenerateKeyPair(session: Handle, mechanism: Mechanism, publicTemplate: Attribute[], privateTemplate: Attribute[]): unknown;
}
/** The module: the PKCS11 class and the PKCS#11 constants (CKA_*, CKM_*, CKR_*, …). */
export type Pkcs11Lib = { PKCS11: new () => Pkcs11Api } & Record<`CK${string}`, number>;
type Pkcs11Module = Pkcs11Lib;
const PACKAGE = 'pkcs11js';

/** pkcs11js is an optional (native) dependency: loaded only when a config names a PKCS#11 signer. */
export async function pkcs11js(keyPath = 'keys.signer'): Promise<Pkcs11Module> {
  try {
    const imported = (await import(PACKAGE)) as Pkcs11Module & { default?: Pkcs11Module };
    return imported.default ?? imported;
  } catch (err) {
    throw new ConfigError(keyPath, `the PKCS#11 signer needs the optional package pkcs11js, which is not installed or did not build (${(err as Error).message}); install it with npm install pkcs11js (a C++ compiler and make are needed)`);
  }
}

/**
 * C_Initialize for calls from several threads at once: signatures run on libuv's pool
 * (C_SignAsync), one per session, so the library must lock (CKF_OS_LOCKING_OK). Without arguments
 * a library may assume one thread and skip its locks: SoftHSM then aborts the process under
 * concurrent signatures. A library already initialized in this process is taken as it is; every
 * caller here asks for locking.
 */
export function initializeForThreads(lib: Pkcs11Lib, module: Pkcs11Api): void {
  try {
    module.C_Initialize({ flags: lib.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (!isCode(err, lib.CKR_CRYPTOKI_ALREADY_INITIALIZED)) throw err;
  }
}

/** One loaded module: a library may be initialized once per process, whatever number of configs names it. */
const modules = new Map<string, Pkcs11Api>();

/**
 * A logged-in token: a few sessions signing in turn. A session runs one signing operation at a
 * time; PKCS#11 logs in per application, so every session of the process shares the login.
 */
export class Pkcs11Token {
  readonly #free: Handle[];
  readonly #waiting: ((session: Handle) => void)[] = [];

  private constructor(
    readonly lib: Module,
    readonly module: Pkcs11Api,
    sessions: Handle[],
  ) {
    this.#free = sessions;
  }

  static async open(settings: { module: string; tokenLabel?: string; slot?: number; pin: string; sessions?: number }): Promise<Pkcs11Token> {
    const lib = await pkcs11js();
    let module = modules.get(settings.module);
    if (!module) {
      module = new lib.PKCS11();
      try {
        module.load(settings.module);
      } catch (err) {
        throw new ConfigError('keys.signer.module', `cannot load the PKCS#11 module ${settings.module}: ${(err as Error).message}`);
      }
      try {
        initializeForThreads(lib, module);
      } catch (err) {
        throw new ConfigError('keys.signer.module', `C_Initialize failed: ${(err as Error).message}`);
      }
      modules.set(settings.module, module);
    }
    const slot = findSlot(module, settings);
    const count = settings.sessions ?? 4;
    const sessions: Handle[] = [];
    try {
      for (let i = 0; i < count; i++) sessions.push(module.C_OpenSession(slot, lib.CKF_SERIAL_SESSION));
    } catch (err) {
      throw new ConfigError('keys.signer', `cannot open a session on the token: ${(err as Error).message}`);
    }
    try {
      module.C_Login(sessions[0], lib.CKU_USER, settings.pin);
    } catch (err) {
      if (!isCode(err, lib.CKR_USER_ALREADY_LOGGED_IN)) {
        for (const session of sessions) module.C_CloseSession(session);
        throw new ConfigError('keys.signer.pin', `the token refused the PIN: ${(err as Error).message}`);
      }
    }
    return new Pkcs11Token(lib, module, sessions);
  }

  /** The one object of `objectClass` with this label, or undefined. Throws when the label is not unique. */
  findObject(objectClass: number, label: string, where: string): Handle | undefined {
    return this.#now((session) => {
      this.module.C_FindObjectsInit(session, [
        { type: this.lib.CKA_CLASS, value: objectClass },
        { type: this.lib.CKA_LABEL, value: label },
      ]);
      try {
        const found = this.module.C_FindObjects(session, 2);
        if (found.length > 1) throw new ConfigError(where, `more than one object labelled "${label}" in the token`);
        return found[0];
      } finally {
        this.module.C_FindObjectsFinal(session);
      }
    });
  }

  attributes(object: Handle, types: number[]): Buffer[] {
    return this.#now((session) =>
      this.module.C_GetAttributeValue(session, object, types.map((type) => ({ type }))).map((a) => a.value as Buffer),
    );
  }

  /** Signs `data` with the private key `key` (SignInit and Sign on one session, which no one else uses meanwhile). */
  async sign(key: Handle, mechanism: Mechanism, data: Buffer, signatureBytes: number): Promise<Buffer> {
    const session = this.#free.pop() ?? (await new Promise<Handle>((resolve) => this.#waiting.push(resolve)));
    try {
      this.module.C_SignInit(session, mechanism, key);
      return await this.module.C_SignAsync(session, data, Buffer.alloc(signatureBytes));
    } finally {
      const next = this.#waiting.shift();
      if (next) next(session);
      else this.#free.push(session);
    }
  }

  /** Short synchronous work at start (find, read attributes) on any session. */
  #now<T>(work: (session: Handle) => T): T {
    const session = this.#free[this.#free.length - 1];
    if (session === undefined) throw new Error('no PKCS#11 session free at start');
    return work(session);
  }
}

type Module = Pkcs11Module;

function findSlot(module: Pkcs11Api, settings: { tokenLabel?: string; slot?: number }): Handle {
  const slots = module.C_GetSlotList(true);
  if (settings.tokenLabel !== undefined) {
    const slot = slots.find((s) => module.C_GetTokenInfo(s).label.trim() === settings.tokenLabel);
    if (!slot) throw new ConfigError('keys.signer.tokenLabel', `no token labelled "${settings.tokenLabel}" (tokens: ${slots.map((s) => JSON.stringify(module.C_GetTokenInfo(s).label.trim())).join(', ') || 'none'})`);
    return slot;
  }
  if (settings.slot === undefined) throw new ConfigError('keys.signer.tokenLabel', 'name the token by tokenLabel or slot');
  const slot = slots[settings.slot];
  if (!slot) throw new ConfigError('keys.signer.slot', `no slot ${settings.slot} with a token (${slots.length} present)`);
  return slot;
}

function isCode(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: number }).code === code;
}
