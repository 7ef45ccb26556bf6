## Telegram: কমান্ড মেনু আর বটের প্রোফাইলের লেখা (setMyCommands, setMyDescription)

tg-command-start = শুরু করুন, বা গিভঅ্যাওয়ে কোড ব্যবহার করুন
tg-command-help = আমি কী কী করতে পারি
tg-command-credits = আপনার ক্রেডিট আর কীভাবে আরও পাবেন
tg-command-redeem = গিভঅ্যাওয়ে কোড ব্যবহার করুন
tg-command-style = ব্যাকগ্রাউন্ড আর মাপ বেছে নিন
tg-command-history = আপনার আগের ছবিগুলো
tg-command-lang = বাংলা বা ইংরেজি
tg-command-privacy = আপনার তথ্য আমরা কীভাবে রাখি
tg-command-delete = অ্যাকাউন্ট আর সব তথ্য মুছে ফেলুন
tg-command-optin = মডেল উন্নত করতে আপনার ছবি ব্যবহারের অনুমতি দিন
tg-command-optout = সেই অনুমতি তুলে নিন
tg-command-mydata = আপনার সব তথ্য ডাউনলোড করুন
tg-command-support = আমাদের টিমের সাথে কথা বলুন

tg-description =
    Nexoraz আপনার মোবাইলে তোলা পণ্যের ছবিকে স্টুডিওর মতো ছবি বানিয়ে দেয়: ব্যাকগ্রাউন্ড সরিয়ে পরিষ্কার সাদা বা সাজানো ব্যাকগ্রাউন্ড, হালকা ছায়া, আর Facebook, Instagram ও মার্কেটপ্লেসের মাপে তৈরি।
    Start চাপুন আর একটা ছবি পাঠান। নতুন অ্যাকাউন্টে ফ্রি ক্রেডিট পাবেন।

tg-short-description = মোবাইলের ছবি থেকে স্টুডিওর মতো পণ্যের ছবি: ছবি পাঠান, Facebook আর মার্কেটপ্লেসের জন্য পরিষ্কার ছবি নিন।
