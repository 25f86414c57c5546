// Compiled with `tsc --strict --noEmit` against the types graphql-codegen generated from the live
// server: a renamed field or a String where an enum should be fails the compile.
import type {
  ProductPageQuery,
  RunProgressSubscription,
  AlertsSubscription,
  ProductStatus,
  SyncRunStatus,
  AlertState,
} from './generated/types';

export function names(page: ProductPageQuery): string[] {
  return page.products.edges.map((e) => e.node.name);
}

export function activeCount(page: ProductPageQuery): number {
  const active: ProductStatus = 'ACTIVE' as ProductStatus;
  return page.products.edges.filter((e) => e.node.status === active).length;
}

export function total(page: ProductPageQuery): number {
  return page.products.totalCount;
}

export function finished(ev: RunProgressSubscription): boolean {
  const s: SyncRunStatus = ev.syncRunUpdated.status;
  return s === 'SUCCEEDED' || s === 'DEAD' || s === 'CANCELLED' || s === 'SKIPPED';
}

export function opened(ev: AlertsSubscription): boolean {
  const s: AlertState = ev.inventoryAlerts.state;
  return s === 'OPEN';
}
