import { stat } from 'node:fs/promises';

/** A private key file others can read: logged as a warning at start, never fatal. */
export interface KeyFileWarning {
  /** The config key naming the file. */
  keyPath: string;
  file: string;
  /** The permission bits, in octal (e.g. "644"). */
  mode: string;
  message: string;
}

/**
 * A private key should be readable by its owner only. Readable by others is always worth a warning.
 * Readable by the group is too, unless the group is one of this process's own: Kubernetes mounts
 * Secrets group-readable for the pod's fsGroup (the Helm chart uses 0440), and many systems give
 * each user a group of their own.
 */
export async function keyFileWarning(file: string, keyPath: string): Promise<KeyFileWarning | undefined> {
  let info;
  try {
    info = await stat(file);
  } catch {
    return undefined; // reading the file reports this, naming the key path
  }
  const groupReadable = (info.mode & 0o040) !== 0 && !ownGroups().includes(info.gid);
  const othersReadable = (info.mode & 0o004) !== 0;
  if (!groupReadable && !othersReadable) return undefined;
  const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
  const who = othersReadable ? 'all users' : `group ${info.gid}`;
  return {
    keyPath,
    file,
    mode,
    message: `${keyPath}: the private key file ${file} (mode ${mode}) is readable by ${who}; make it readable by its owner only (chmod 600)`,
  };
}

function ownGroups(): number[] {
  // Not on Windows, where file modes mean little anyway.
  if (typeof process.getgid !== 'function') return [];
  return [process.getgid(), ...(process.getgroups?.() ?? [])];
}
