import { describeValue } from './errors.js';
import type { RawIssue } from './issues.js';
import { dropNulls, isPlainObject, type PlainObject } from './read.js';

/** The only config version (and apiVersion of the newer documents) kubeprism understands. */
export const CONFIG_VERSION = 'v1alpha1';

/** The Talos 1.15 document kinds kubeprism reads; every other kind is kept untouched and not looked into. */
export const READ_KINDS = ['KubeClusterConfig', 'KubeAPIServerConfig', 'KubePrismConfig'] as const;

/** One of the document kinds kubeprism reads. */
export type ReadKind = (typeof READ_KINDS)[number];

/** A document found in the list: its 0-based position and its content with `null` fields dropped. */
export interface FoundDocument {
  index: number;
  value: PlainObject;
}

/** The documents kubeprism reads, picked out of a config's document list. */
export interface SortedDocuments {
  /** The `version: v1alpha1` document (the classic machine config). */
  v1alpha1?: FoundDocument;
  /** At most one document of each kind kubeprism reads. */
  kinds: Partial<Record<ReadKind, FoundDocument>>;
  /** How many documents could not be told apart at all (not a mapping, no version, no kind). */
  unrecognised: number;
}

/** A short label for a document in messages: its kind, `v1alpha1` for the classic one. */
export function documentLabel(doc: unknown): string {
  if (!isPlainObject(doc)) return 'not a mapping';
  if (typeof doc.kind === 'string' && doc.kind !== '') return doc.kind;
  if ('version' in doc) return 'v1alpha1';
  return 'unrecognised';
}

/**
 * Sorts documents by kind, reporting what makes a document unusable: not a mapping, a wrong version or
 * apiVersion, no way to tell what it is, or a second copy of a document that must be unique.
 */
export function sortDocuments(documents: readonly unknown[], issues: RawIssue[]): SortedDocuments {
  const sorted: SortedDocuments = { kinds: {}, unrecognised: 0 };
  documents.forEach((raw, index) => {
    const issue = (path: string, message: string): void => void issues.push({ document: index, path, message });
    if (!isPlainObject(raw)) {
      sorted.unrecognised++;
      issue('', `not a Talos config document: expected a mapping of fields (got ${describeValue(raw)})`);
      return;
    }
    const doc = dropNulls(raw) as PlainObject;
    // Branch on the raw keys: `version: null` is a wrong version, not a document without one.
    if ('kind' in raw) {
      if (typeof doc.kind !== 'string' || doc.kind === '') {
        issue('kind', `must be a document kind such as KubePrismConfig (got ${describeValue(raw.kind)})`);
        return;
      }
      const kind = doc.kind;
      // Other kinds belong to Talos; their apiVersion is Talos's business, not ours.
      if (!isReadKind(kind)) return;
      if (doc.apiVersion !== CONFIG_VERSION) {
        issue(
          'apiVersion',
          doc.apiVersion === undefined
            ? `required (${CONFIG_VERSION})`
            : `unsupported apiVersion ${describeValue(doc.apiVersion)}: must be ${CONFIG_VERSION}`,
        );
      }
      const first = sorted.kinds[kind];
      if (first !== undefined) {
        issue('', `only one ${kind} document is allowed (document ${first.index + 1} is one too)`);
        return;
      }
      sorted.kinds[kind] = { index, value: doc };
      return;
    }
    if ('version' in raw) {
      if (doc.version !== CONFIG_VERSION) {
        issue('version', `unsupported version ${describeValue(raw.version)}: must be ${CONFIG_VERSION}`);
      }
      if (sorted.v1alpha1 !== undefined) {
        issue('', `only one v1alpha1 document is allowed (document ${sorted.v1alpha1.index + 1} is one too)`);
        return;
      }
      // Read it even with a wrong version, so every other problem is listed in the same round.
      sorted.v1alpha1 = { index, value: doc };
      return;
    }
    sorted.unrecognised++;
    if ('apiVersion' in raw) {
      issue('kind', 'required: a document with an apiVersion needs a kind');
      return;
    }
    issue('', `not a Talos config document: it has neither "version: ${CONFIG_VERSION}" nor "apiVersion" and "kind"`);
  });
  return sorted;
}

function isReadKind(kind: string): kind is ReadKind {
  return (READ_KINDS as readonly string[]).includes(kind);
}
