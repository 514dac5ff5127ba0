/**
 * The sealed columns of this room, for `skillport secrets rotate`: each names the table, the column, and how
 * the `SealedAt` of a row is built (table, row id, field), so a rotation can open with the old key and re-seal.
 */
export const PROVIDER_SEALED_COLUMNS = [
  { table: 'model_providers', idColumn: 'id', column: 'api_key', field: () => 'api_key' },
] as const;
