//! Rows of the hot reads decoded by position. sea-orm's derived `FromQueryResult` finds every
//! column of every row by name: a hashed look-up per column per row, about 3,000 on one orders
//! page. [`by_position!`] declares a row struct whose decoding reads column `i` into field `i`
//! when the row's columns are exactly its fields in order (checked per row by comparing the names
//! directly, which costs far less than hashing them), and by name otherwise, so a statement that
//! selects other columns or another order is still decoded correctly.

/// Whether the row's columns are exactly `names`, in that order.
pub fn in_order(res: &sea_orm::QueryResult, names: &[&str]) -> bool {
    use sea_orm::sqlx::{Column as _, Row as _};
    res.try_as_pg_row().is_some_and(|row| {
        let columns = row.columns();
        columns.len() == names.len() && columns.iter().zip(names).all(|(c, n)| c.name() == *n)
    })
}

/// A row struct decoded as the module explains; `Self::COLUMNS` lists its fields in order.
macro_rules! by_position {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl $name {
            /// Its columns, in the order a statement should select them.
            #[allow(dead_code)]
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        impl sea_orm::FromQueryResult for $name {
            fn from_query_result(
                res: &sea_orm::QueryResult,
                pre: &str,
            ) -> Result<Self, sea_orm::DbErr> {
                if pre.is_empty() && $crate::domain::rows::in_order(res, Self::COLUMNS) {
                    let mut at = 0usize;
                    let mut next = || {
                        at += 1;
                        at - 1
                    };
                    Ok(Self { $( $field: res.try_get_by_index(next())? ),* })
                } else {
                    Ok(Self { $( $field: res.try_get(pre, stringify!($field))? ),* })
                }
            }
        }
    };
}
pub(crate) use by_position;

/// The column names a `SELECT … FROM` statement lists (table aliases dropped), for tests that
/// hold a statement to its row's field order.
#[cfg(test)]
pub fn select_list(sql: &str) -> Vec<&str> {
    let list = sql
        .split_once("SELECT ")
        .and_then(|(_, rest)| rest.split_once(" FROM "))
        .map_or(sql, |(list, _)| list);
    list.split(',')
        .map(|c| {
            let c = c.trim();
            c.rsplit_once('.').map_or(c, |(_, name)| name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::select_list;
    use crate::domain::inventory::Level;
    use crate::domain::order_reads::{OrderItemRow, OrderRow};
    use crate::domain::products::{ById, Grouped, PriceRow, ProductRow, VariantRow};

    /// The hot reads select their rows' fields in field order, so they take the positional path.
    #[test]
    fn hot_statements_select_their_fields_in_order() {
        let statements: [(&str, &[&str]); 7] = [
            (crate::domain::order_reads::ORDER_COLUMNS, OrderRow::COLUMNS),
            (<OrderItemRow as Grouped>::SQL, OrderItemRow::COLUMNS),
            (
                crate::domain::products::PRODUCT_COLUMNS,
                ProductRow::COLUMNS,
            ),
            (<VariantRow as Grouped>::SQL, VariantRow::COLUMNS),
            (<VariantRow as ById>::SQL, VariantRow::COLUMNS),
            (<PriceRow as Grouped>::SQL, PriceRow::COLUMNS),
            (<Level as Grouped>::SQL, Level::COLUMNS),
        ];
        for (sql, columns) in statements {
            assert_eq!(select_list(sql), columns, "{sql}");
        }
    }

    #[test]
    fn select_list_drops_aliases() {
        assert_eq!(
            select_list("SELECT p.id, name,  x.y FROM t"),
            ["id", "name", "y"]
        );
    }
}
