/**
 * Registered resources, cached by id and by audience. A resource is never deleted and its
 * identity (id, audience, secret) never changes; only its provenance requirements can be updated
 * (`PATCH /v1/resources/{id}`). This process applies an update to its cache at once; other
 * replicas re-read a cached record after {@link RESOURCE_CACHE_TTL_MS}, so an update reaches
 * every replica within that time. Misses always go to the store, so a resource registered
 * through another replica is found on first use.
 *
 * @example
 * const resource = await deputy.resources.byAudience("https://api.example.com");
 */
import type { ResourceRecord, Store } from "../store/index.js";

const MAX_CACHED = 10_000;
/** How long another replica may act on a resource's previous provenance requirements. */
export const RESOURCE_CACHE_TTL_MS = 10_000;

interface Cached {
  record: ResourceRecord;
  until: number;
}

export class ResourceCache {
  private readonly ids = new Map<string, Cached>();
  private readonly audiences = new Map<string, Cached>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async byAudience(audience: string): Promise<ResourceRecord | null> {
    const hit = this.audiences.get(audience);
    if (hit && hit.until > this.now()) return hit.record;
    return this.remember(await this.store.resources.getByAudience(audience));
  }

  async byId(id: string): Promise<ResourceRecord | null> {
    const hit = this.ids.get(id);
    if (hit && hit.until > this.now()) return hit.record;
    return this.remember(await this.store.resources.get(id));
  }

  /** Replaces a cached record after this process changed it. */
  remember(r: ResourceRecord | null): ResourceRecord | null {
    if (r && (this.ids.size < MAX_CACHED || this.ids.has(r.id))) {
      const entry = { record: r, until: this.now() + RESOURCE_CACHE_TTL_MS };
      this.ids.set(r.id, entry);
      this.audiences.set(r.audience, entry);
    }
    return r;
  }
}
