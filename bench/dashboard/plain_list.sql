-- Customer list page the plain way: ORDER BY ... OFFSET (page - 1) * 50 LIMIT 50 over the
-- shop's customers with a purchase, same columns, order and tie-breaker as shop_customer_list()
-- (so it can use the same partial indexes; only the paging differs).
-- psql variables: shop, order_by (e.g. c.last_purchase_at DESC, c.id DESC), offset.
SELECT c.id, c.customer_name::text, c.phone_number::text, c.email::text, c.total_purchases,
       c.repeat_customer, c.total_spent, c.first_purchase_at, c.last_purchase_at,
       c.preferred_network::text
  FROM shop_customers c
 WHERE c.shop_id = :'shop' AND c.total_purchases > 0
 ORDER BY :order_by
OFFSET :offset LIMIT 50
