CREATE OR REPLACE FUNCTION customer_tracking_fields(
    OUT field text, OUT default_column name, OUT required boolean)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    VALUES ('id',             'id'::name,             true),
           ('shop_id',        'shop_id',              true),
           ('customer_phone', 'customer_phone',       true),
           ('total_price',    'total_price',          true),
           ('created_at',     'created_at',           true),
           ('payment_status', 'payment_status',       false),
           ('customer_email', 'customer_email',       false),
           ('customer_name',  'customer_name',        false),
           ('network',        'network',              false),
           ('shop_slug',      'shop_slug',            false),
           ('referrer',       'referrer',             false),
           ('utm_source',     'utm_source',           false),
           ('utm_medium',     'utm_medium',           false),
           ('utm_campaign',   'utm_campaign',         false),
           ('discount_code',  'discount_code',        false),
           ('referral_code',  'referral_code',        false)
$$;
COMMENT ON FUNCTION customer_tracking_fields() IS
    'The shop_orders fields customer_tracking reads. Required fields must exist; optional '
    'ones are used when present (payment_status, email, name, network and slug must exist '
    'unless mapped to '''' to say the host has no such column).';
