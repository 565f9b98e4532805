import { matchDefinitions, NAMESPACE_NAME, type ResourceDefinition } from './definition.js';
import { AmbiguousTypeError, RegistrationError, UnknownTypeError } from './errors.js';

/** Known resource types and namespaces, with case-insensitive lookup by any of a type's names. */
export class TypeRegistry {
  readonly #byType = new Map<string, ResourceDefinition>();
  readonly #namespaces = new Set<string>();

  /** Adds a definition; registering the same definition twice is a no-op, a different one with the same type is an error. */
  register(def: ResourceDefinition): boolean {
    const existing = this.#byType.get(def.type);
    if (existing === def) return false;
    if (existing) throw new RegistrationError(`resource type ${def.type} is already registered with another definition`);
    this.#byType.set(def.type, def);
    return true;
  }

  /** Adds a namespace; true when it was new. */
  registerNamespace(name: string): boolean {
    if (!NAMESPACE_NAME.test(name)) throw new RegistrationError(`invalid namespace name "${name}"`);
    if (this.#namespaces.has(name)) return false;
    this.#namespaces.add(name);
    return true;
  }

  /** True when the namespace was registered. */
  hasNamespace(name: string): boolean {
    return this.#namespaces.has(name);
  }

  /** The definition for an exact type name, or undefined. */
  get(type: string): ResourceDefinition | undefined {
    return this.#byType.get(type);
  }

  /** The definition for an exact type name; unknown types throw. */
  require(type: string): ResourceDefinition {
    const def = this.#byType.get(type);
    if (!def) throw new UnknownTypeError(type, this.typeNames());
    return def;
  }

  /** Resolves a user-typed name (type, plural, singular or alias; any case) to one definition. */
  resolve(name: string): ResourceDefinition {
    const matches = matchDefinitions([...this.#byType.values()], name);
    if (matches.length === 1 && matches[0]) return matches[0];
    if (matches.length > 1) throw new AmbiguousTypeError(name, matches.map((def) => def.type).sort());
    throw new UnknownTypeError(name, this.typeNames());
  }

  /** Every registered definition, sorted by type. */
  definitions(): ResourceDefinition[] {
    return [...this.#byType.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** Every registered type name, sorted. */
  typeNames(): string[] {
    return this.definitions().map((def) => def.type);
  }

  /** Every registered namespace, sorted. */
  namespaces(): string[] {
    return [...this.#namespaces].sort();
  }
}
