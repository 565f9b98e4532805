import type { Draft } from 'immer';
import { INVALID_CONFIG, InvalidConfigError, parseMembersFile, type MemberSpec } from '../config/index.js';
import {
  DiscoveryStatusType,
  MEMBER_SOURCE_LABEL,
  MEMBERS_FILE_DISCOVERY_ID,
  MemberType,
  type DiscoveryStatusSpec,
} from '../resources/index.js';
import { hasCode, kindOf, ptr, type FieldIssue, type Logger, type Resource, type State } from '../runtime/index.js';

/** Owner of the members file's DiscoveryStatus: the members source is its only writer. */
const MEMBERS_SOURCE_OWNER = 'members-source';

/** Stable code of a members file that cannot be read. */
export const MEMBERS_FILE_UNREADABLE = 'KP_ERR_MEMBERS_FILE_UNREADABLE';

/** Outcome of reading a members file. */
export type MembersSyncResult =
  | { readonly applied: true; readonly upserted: number; readonly removed: number; readonly skipped?: readonly string[] }
  | { readonly applied: false; readonly message: string; readonly issues: readonly FieldIssue[] };

/**
 * Feeds Members from outside the controllers: a members file (synced as a whole) and single writes from
 * the API or an embedding agent. Each member is labelled with its source, so a file sync never removes
 * members that came from elsewhere.
 */
export class MembersSource {
  /** Reads of the members file so far (the first is not a re-read). */
  #fileReads = 0;

  constructor(
    private readonly state: State,
    private readonly logger: Logger,
  ) {}

  /** Creates or replaces one member; the spec is validated by the Members schema. */
  async put(id: string, spec: MemberSpec, source: string): Promise<Resource<MemberSpec>> {
    return this.state.modify(ptr(MemberType, id), (draft) => {
      draft.spec = spec;
      draft.labels[MEMBER_SOURCE_LABEL] = source;
    });
  }

  /** Removes one member; false when it did not exist. */
  async remove(id: string): Promise<boolean> {
    const existing = await this.state.find(ptr(MemberType, id));
    if (!existing) return false;
    return this.state.teardownAndDestroyIfReady(existing.metadata);
  }

  /** Replaces every file-fed member with the file's content; a bad file changes nothing. */
  async syncFile(text: string, file: string): Promise<MembersSyncResult> {
    let entries;
    try {
      entries = parseMembersFile(text);
    } catch (err) {
      const issues = err instanceof InvalidConfigError ? err.issues : [{ path: '', message: String(err) }];
      const message = err instanceof Error ? err.message : String(err);
      this.logger.error({ file, issues }, 'members file rejected; keeping the members in force');
      await this.#fileRejected(file, INVALID_CONFIG, message);
      return { applied: false, message, issues };
    }
    const source = 'file';
    const skipped: string[] = [];
    for (const entry of entries) {
      try {
        await this.put(entry.id, entry.spec, source);
      } catch (err) {
        // The id belongs to a controller (a member found in Kubernetes): it stays the controller's.
        if (!hasCode(err, 'KP_ERR_OWNER_CONFLICT')) throw err;
        skipped.push(entry.id);
      }
    }
    if (skipped.length > 0)
      this.logger.error({ file, skipped }, 'members file entries skipped: their ids are held by a discovery controller');
    const wanted = new Set(entries.map((e) => e.id));
    const stale = await this.state.list(kindOf(MemberType), { labels: [{ key: MEMBER_SOURCE_LABEL, op: 'equal', value: source }] });
    let removed = 0;
    for (const member of stale) {
      if (wanted.has(member.metadata.id)) continue;
      if (await this.state.teardownAndDestroyIfReady(member.metadata)) removed++;
    }
    this.logger.info({ file, members: entries.length, removed }, 'members file applied');
    await this.#writeFileStatus(file, (status) => {
      status.phase = 'watching';
      status.lastSyncTime = new Date().toISOString();
      status.members = entries.length - skipped.length;
      if (skipped.length > 0) status.conflicts = skipped;
      else delete status.conflicts;
    });
    return { applied: true, upserted: entries.length - skipped.length, removed, ...(skipped.length > 0 ? { skipped } : {}) };
  }

  /** Reports a members file that cannot be read; the members in force stay. */
  async reportUnreadable(file: string, err: unknown): Promise<void> {
    const message = `cannot read members file ${file}: ${err instanceof Error ? err.message : String(err)}`;
    this.logger.error({ err, file }, 'cannot read members file; keeping the members in force');
    await this.#fileRejected(file, MEMBERS_FILE_UNREADABLE, message);
  }

  /** The file's content cannot be used: the status says why; what it gave before (members, conflicts) stays. */
  async #fileRejected(file: string, code: string, message: string): Promise<void> {
    await this.#writeFileStatus(file, (status) => {
      status.phase = 'rejected';
      status.lastError = { code, message, time: new Date().toISOString() };
    });
  }

  /** The file's DiscoveryStatus, written once per read of it. */
  async #writeFileStatus(file: string, mutate: (status: Draft<DiscoveryStatusSpec>) => void): Promise<void> {
    const reads = this.#fileReads++; // counted here: modify may run its recipe more than once
    await this.state.modify(
      ptr(DiscoveryStatusType, MEMBERS_FILE_DISCOVERY_ID),
      (draft) => {
        draft.spec.file = file;
        draft.spec.relists = reads;
        mutate(draft.spec);
      },
      { owner: MEMBERS_SOURCE_OWNER, initialSpec: { enabled: true, phase: 'watching', members: 0, leaving: 0, relists: 0 } },
    );
  }
}
