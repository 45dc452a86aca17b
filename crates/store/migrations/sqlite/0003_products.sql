-- The device catalogue's products, keyed by GTIN (UDI-DI). Keep in step with
-- migrations/postgres/0003_products.sql. Outcome statistics group implants by brand and category
-- through this table; the devices issue extends it (versions, attributes, review of unknown GTINs).
CREATE TABLE products (
    gtin          TEXT PRIMARY KEY CHECK (length(gtin) = 14),
    manufacturer  TEXT NOT NULL,
    brand         TEXT NOT NULL,
    category      TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX products_by_brand ON products (brand);
