export { Catalogue, catalogueFileSchema, loadCatalogue, parseCatalogue, type CatalogueFile, type PolicyEntry } from './catalogue.js';
export { contentRevision, readDataFile, type DataFile } from './data-file.js';
export { normaliseIdentityKey } from './identity-key.js';
export {
  Inventory,
  inventoryFileSchema,
  loadInventory,
  NHI_TYPES,
  parseInventory,
  type IdentityMatch,
  type InventoryFile,
  type NhiType,
} from './inventory.js';
export { POD_IDENTITY_ENV, podIdentityAttributes } from './pod-identity.js';
export { WatchedFile, type WatchedFileOptions } from './watched-file.js';
