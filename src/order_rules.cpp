/*
 * order_rules.cpp: pure decision rules for order tracking.
 */
#include "order_rules.hpp"

namespace ct::rules {

namespace {

bool IsBlank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace

std::vector<std::string> SplitStatusList(std::string_view list)
{
	std::vector<std::string> items;
	size_t start = 0;
	while (start <= list.size())
	{
		size_t comma = list.find(',', start);
		if (comma == std::string_view::npos)
			comma = list.size();
		std::string item = NormalizeStatus(list.substr(start, comma - start));
		if (!item.empty())
			items.push_back(std::move(item));
		start = comma + 1;
	}
	return items;
}

namespace {

bool EqualsIgnoringAsciiCase(std::string_view text, const std::string &lower) noexcept
{
	if (text.size() != lower.size())
		return false;
	for (size_t i = 0; i < text.size(); i++)
	{
		char c = text[i];
		if (c >= 'A' && c <= 'Z')
			c = static_cast<char>(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

bool Contains(const std::vector<std::string> &list, std::string_view value) noexcept
{
	for (const std::string &item : list)
		if (EqualsIgnoringAsciiCase(value, item))
			return true;
	return false;
}

} // namespace

std::string_view TrimBlanks(std::string_view text) noexcept
{
	size_t begin = 0;
	size_t end = text.size();
	while (begin < end && IsBlank(text[begin]))
		begin++;
	while (end > begin && IsBlank(text[end - 1]))
		end--;
	return text.substr(begin, end - begin);
}

std::string NormalizeStatus(std::string_view status)
{
	std::string out(TrimBlanks(status));
	for (char &c : out)
		if (c >= 'A' && c <= 'Z')
			c = static_cast<char>(c - 'A' + 'a');
	return out;
}

size_t NormalizeNetworkTo(std::string_view network, char *out) noexcept
{
	std::string_view trimmed = TrimBlanks(network);
	for (size_t i = 0; i < trimmed.size(); i++)
	{
		char c = trimmed[i];
		out[i] = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
	}
	return trimmed.size();
}

std::string NormalizeNetwork(std::string_view network)
{
	std::string out(network.size(), '\0');
	out.resize(NormalizeNetworkTo(network, out.data()));
	return out;
}

bool IsPlainDecimal(std::string_view text) noexcept
{
	std::string_view t = TrimBlanks(text);
	size_t i = 0;
	size_t digits = 0;
	auto is_digit = [](char c) { return c >= '0' && c <= '9'; };

	if (i < t.size() && (t[i] == '+' || t[i] == '-'))
		i++;
	while (i < t.size() && is_digit(t[i]))
		i++, digits++;
	if (i < t.size() && t[i] == '.')
	{
		i++;
		while (i < t.size() && is_digit(t[i]))
			i++, digits++;
	}
	if (digits == 0 || digits > 1000)
		return false;
	if (i < t.size() && (t[i] == 'e' || t[i] == 'E'))
	{
		size_t exponent_digits = 0;
		int exponent = 0;
		i++;
		if (i < t.size() && (t[i] == '+' || t[i] == '-'))
			i++;
		while (i < t.size() && is_digit(t[i]) && exponent <= 1000)
		{
			exponent = exponent * 10 + (t[i] - '0');
			i++, exponent_digits++;
		}
		if (exponent_digits == 0 || exponent > 1000) /* numeric_in's limit */
			return false;
	}
	return i == t.size();
}

StatusVocabulary::StatusVocabulary()
{
	SetPaid("completed,paid,success");
	SetUnpaid("pending,processing,failed,refunded,cancelled,canceled,reversed,abandoned,"
			  "expired,declined");
}

void StatusVocabulary::SetPaid(std::string_view comma_list) { paid_ = SplitStatusList(comma_list); }

void StatusVocabulary::SetUnpaid(std::string_view comma_list)
{
	unpaid_ = SplitStatusList(comma_list);
}

StatusClass StatusVocabulary::Classify(std::string_view status) const noexcept
{
	std::string_view normalized = TrimBlanks(status);
	if (normalized.empty())
		return StatusClass::kMissing;
	if (Contains(paid_, normalized))
		return StatusClass::kPaid;
	if (Contains(unpaid_, normalized))
		return StatusClass::kUnpaid;
	return StatusClass::kUnknown;
}

ChangeKind Classify(const Contribution &before, const Contribution &after) noexcept
{
	if (!before.present && !after.present)
		return ChangeKind::kNothing;
	if (!before.present)
		return ChangeKind::kAddOrder;
	if (!after.present || before.customer != after.customer || before.order != after.order)
		return ChangeKind::kRecompute;

	/* Same order, same customer. */
	if (!before.purchase && after.purchase)
		return ChangeKind::kBecamePurchase;
	if (before.purchase != after.purchase)
		return ChangeKind::kRecompute;
	if (after.purchase &&
		(before.amount != after.amount || before.purchased_at != after.purchased_at ||
		 before.network_null != after.network_null || before.network != after.network ||
		 before.slug_null != after.slug_null || before.slug != after.slug))
		return ChangeKind::kRecompute;
	if (before.amount != after.amount || before.purchased_at != after.purchased_at ||
		before.network_null != after.network_null || before.network != after.network ||
		before.slug_null != after.slug_null || before.slug != after.slug ||
		after.attribution_changed)
		return ChangeKind::kLedgerOnly;
	return ChangeKind::kNothing;
}

} // namespace ct::rules
