# Generates the psql script of one "recorder" client of the crash test (test/t/004_crash.pl):
#
#   awk -v cycle=C -v rec=R -v n=N -f test/load/recorder.awk >rec.sql
#   psql -v ON_ERROR_STOP=1 -f rec.sql >rec.log
#
# N orders with ids known in advance (cCCCCCCC-RRRR-4000-8000-KKKKKKKKKKKK), in the load's shops,
# for the load's customers (load_phones 1..49), reference_code 'rec' (never picked by the pgbench
# scripts, so only this client changes them). Before each transaction the script prints
# "try ID STATE" and, only after its COMMIT has returned, "ok ID STATE", where STATE is what the
# order is once the transaction is committed: pending, paid, refunded or deleted. After a crash,
# an order's last "ok" state must be in the database; if a "try" follows it, that transaction was
# in flight and either state is right. Four kinds of orders, in turn:
#   0  inserted paid
#   1  inserted pending and paid in one transaction (checkout + webhook), later refunded
#   2  inserted pending; paid in a later transaction (webhook)
#   3  inserted paid; later deleted
BEGIN {
	print "SET client_min_messages = warning;"
	for (k = 1; k <= n; k++) {
		id = sprintf("c%07d-%04d-4000-8000-%012d", cycle, rec, k)
		shop = 1 + (k * 7 + rec) % 4
		phone = 1 + (k * 13 + rec * 5 + cycle * 3) % 49
		amount = sprintf("%d.%02d", 1 + (k * 37 + rec) % 150, (k * 11) % 100)
		kind = k % 4
		first = (kind == 1 || kind == 2) ? "pending" : "paid"
		step(id, kind == 2 ? "pending" : "paid", \
		     insert(id, shop, phone, amount, first) \
		     (kind == 1 ? update(id, "paid") : ""))
		if (kind == 1)
			step(id, "refunded", update(id, "refunded"))
		else if (kind == 2)
			step(id, "paid", update(id, "paid"))
		else if (kind == 3)
			step(id, "deleted", "DELETE FROM shop_orders WHERE id = '" id "';\n")
	}
}

function step(id, state, sql)
{
	printf "\\echo try %s %s\nBEGIN;\n%sCOMMIT;\n\\echo ok %s %s\n", id, state, sql, id, state
}

function insert(id, shop, phone, amount, status)
{
	return "INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, " \
	       "total_price, payment_status, shop_slug, reference_code, created_at)\n" \
	       "SELECT '" id "', s.id, 'Recorder', ph.phone, ph.network, " amount ", '" status "', " \
	       "s.slug, 'rec', now() FROM load_shops s, load_phones ph " \
	       "WHERE s.n = " shop " AND ph.n = " phone ";\n"
}

function update(id, status)
{
	return "UPDATE shop_orders SET payment_status = '" status "', updated_at = now() " \
	       "WHERE id = '" id "';\n"
}
