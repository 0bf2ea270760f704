// The key of the device, IP and data-code hashes. Every node must hash with
// the same key, so it lives in the database (instance_secrets), generated on
// first start. With ENCRYPTION_KEY set it is stored sealed (AES-256-GCM) under
// that key: a database dump (backups are kept 30 days) then holds the hashes
// without the key that would let anyone test guesses against them (an IPv4
// address is one of 2^32). A plain key found at start is sealed in place, so
// existing hashes keep verifying. Without ENCRYPTION_KEY (the embedded
// default) the key is stored plain.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Sql } from "postgres";

const PLAIN = "records_hash_key";
const SEALED = "records_hash_key_sealed";
const IV_BYTES = 12;
const TAG_BYTES = 16;

export async function loadHashKey(sql: Sql, encryptionKey?: Buffer): Promise<Buffer> {
  if (encryptionKey && encryptionKey.length !== 32) throw new Error("ENCRYPTION_KEY must be 32 bytes");
  return sql.begin(async (tx) => {
    // One node at a time: two starting together must not seal two different keys.
    await tx`select pg_advisory_xact_lock(hashtext(${SEALED}))`;
    const rows = await tx<{ name: string; value: Buffer }[]>`
      select name, value from instance_secrets where name in (${PLAIN}, ${SEALED})`;
    const plain = rows.find((r) => r.name === PLAIN)?.value;
    const sealed = rows.find((r) => r.name === SEALED)?.value;
    if (!encryptionKey) {
      if (sealed) throw new Error("the records hash key is sealed: set ENCRYPTION_KEY to the key it was sealed with");
      if (plain) return Buffer.from(plain);
      const key = randomBytes(32);
      await tx`insert into instance_secrets (name, value) values (${PLAIN}, ${key})`;
      return key;
    }
    if (sealed) return open(Buffer.from(sealed), encryptionKey);
    const key = plain ? Buffer.from(plain) : randomBytes(32);
    await tx`insert into instance_secrets (name, value) values (${SEALED}, ${seal(key, encryptionKey)})`;
    if (plain) await tx`delete from instance_secrets where name = ${PLAIN}`;
    return key;
  });
}

function seal(key: Buffer, encryptionKey: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", encryptionKey, iv);
  const body = Buffer.concat([cipher.update(key), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

function open(sealed: Buffer, encryptionKey: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", encryptionKey, sealed.subarray(0, IV_BYTES));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new Error("ENCRYPTION_KEY does not open the records hash key sealed in the database");
  }
}
