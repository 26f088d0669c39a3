import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A folder laid out as Kubernetes mounts a Secret: the files are symlinks into `..data`, itself a
 * symlink to a timestamped folder; an update writes a new folder and swaps `..data` in one rename.
 */
export class SecretVolume {
  #version = 0;

  private constructor(readonly dir: string) {}

  static async create(dir: string, files: Record<string, string | Buffer>): Promise<SecretVolume> {
    await mkdir(dir, { recursive: true });
    const volume = new SecretVolume(dir);
    await volume.update(files);
    for (const name of Object.keys(files)) await symlink(path.join('..data', name), path.join(dir, name));
    return volume;
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  /** Replaces every file at once, as the kubelet does. */
  async update(files: Record<string, string | Buffer>): Promise<void> {
    const version = `..2026_12_02_${String(++this.#version).padStart(3, '0')}`;
    await mkdir(path.join(this.dir, version));
    for (const [name, content] of Object.entries(files)) await writeFile(path.join(this.dir, version, name), content, { mode: 0o600 });
    const previous = await readlink(path.join(this.dir, '..data')).catch(() => undefined);
    await symlink(version, path.join(this.dir, '..data_tmp'));
    await rename(path.join(this.dir, '..data_tmp'), path.join(this.dir, '..data'));
    if (previous) await rm(path.join(this.dir, previous), { recursive: true, force: true });
  }
}
