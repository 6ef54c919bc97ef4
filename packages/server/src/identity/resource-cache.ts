/**
 * Registered resources, cached for the life of the process by id and by audience. Safe because a
 * resource is never edited or deleted (there is no API for either), so a cached record can never
 * be stale; misses always go to the store, so a resource registered through another replica is
 * found on first use.
 *
 * @example
 * const resource = await deputy.resources.byAudience("https://api.example.com");
 */
import type { ResourceRecord, Store } from "../store/index.js";

const MAX_CACHED = 10_000;

export class ResourceCache {
  private readonly ids = new Map<string, ResourceRecord>();
  private readonly audiences = new Map<string, ResourceRecord>();

  constructor(private readonly store: Store) {}

  async byAudience(audience: string): Promise<ResourceRecord | null> {
    return this.audiences.get(audience) ?? this.remember(await this.store.resources.getByAudience(audience));
  }

  async byId(id: string): Promise<ResourceRecord | null> {
    return this.ids.get(id) ?? this.remember(await this.store.resources.get(id));
  }

  private remember(r: ResourceRecord | null): ResourceRecord | null {
    if (r && this.ids.size < MAX_CACHED) {
      this.ids.set(r.id, r);
      this.audiences.set(r.audience, r);
    }
    return r;
  }
}
