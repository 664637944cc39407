-- The certdb of cfssl serve -db-config (SQLite), as cfssl's certdb/sqlite/migrations/001_CreateCertificates.sql
-- creates it (see SOURCE.txt). Written for these tests from the column facts; no goose markers.
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  created_at               timestamp,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE INDEX certificates_created_at ON certificates (created_at);
CREATE INDEX certificates_revoked_at ON certificates (revoked_at);

CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);
