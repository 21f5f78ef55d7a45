//! The on-disk copy of a [`LocalLocationService`](crate::LocalLocationService), on redb.
//!
//! Each AOR is one row: its Resource-ID and the packed entry that memory
//! holds. Every write commits durably before memory changes, so a record
//! acknowledged to a publisher survives a crash.

use std::path::Path;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::store::Change;
use crate::{Error, ResourceId, StorageError};

const ENTRIES: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("entries");

#[derive(Debug)]
pub(crate) struct DiskStore {
    db: Database,
}

fn storage(e: impl Into<redb::Error>) -> Error {
    StorageError::new("the redb file", e.into()).into()
}

impl DiskStore {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let db = Database::create(path).map_err(storage)?;
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(ENTRIES).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(Self { db })
    }

    pub fn load(&self, mut f: impl FnMut(ResourceId, Box<[u8]>)) -> Result<(), Error> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(ENTRIES).map_err(storage)?;
        for row in table.iter().map_err(storage)? {
            let (k, v) = row.map_err(storage)?;
            f(ResourceId(*k.value()), v.value().into());
        }
        Ok(())
    }

    pub fn apply(&self, change: &Change) -> Result<(), Error> {
        self.write(|table| match change {
            Change::Stored(rid, packed) => table.insert(rid.as_bytes(), &**packed).map(drop),
            Change::Removed(rid) => table.remove(rid.as_bytes()).map(drop),
        })
    }

    pub fn remove(&self, gone: &[ResourceId]) -> Result<(), Error> {
        if gone.is_empty() {
            return Ok(());
        }
        self.write(|table| {
            gone.iter()
                .try_for_each(|rid| table.remove(rid.as_bytes()).map(drop))
        })
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &[u8; 32], &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), Error> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        txn.set_durability(Durability::Immediate).map_err(storage)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(storage)?;
            f(&mut table).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::entry::{self, Slot};
    use crate::store::{RecordStore, StoreLimits};
    use crate::{Aor, Binding, Identity, Record, UnixTime};

    #[test]
    fn a_store_refuses_to_restore_an_entry_whose_text_is_not_utf8() {
        let mut rec = Record::new(Aor::parse("sip:carol@example.com").unwrap(), 1);
        rec.bindings = vec![Binding::new("sip:carol@10.0.0.3", UnixTime(9000), "c", 1)];
        let bytes = rec
            .sign(&Identity::from_secret_bytes([5; 32]))
            .expect("sign")
            .to_bytes()
            .expect("encode");
        let slot = Slot {
            keep_until: UnixTime(9000),
            bytes: &bytes,
        };
        let good = entry::pack([slot]);
        // The AOR text starts after the entry head, the record head and its
        // one-byte length.
        let mut bad_aor = good.clone();
        bad_aor[8 + 12 + 1] = 0xff;
        let contact = good.windows(8).position(|w| w == b"10.0.0.3").unwrap();
        let mut bad_contact = good.clone();
        bad_contact[contact] = 0xff;

        let store = RecordStore::new(StoreLimits::default());
        assert!(!store.restore(bad_aor, UnixTime(1000)));
        assert!(!store.restore(bad_contact, UnixTime(1000)));
        assert_eq!(store.stats().aors, 0);
        assert!(store.restore(good.clone(), UnixTime(1000)));
        assert!(
            store.restore(good, UnixTime(1000)),
            "a second copy replaces the first"
        );
        let stats = store.stats();
        assert_eq!((stats.aors, stats.records), (1, 1));
    }
}
