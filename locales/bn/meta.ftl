## WhatsApp ও Messenger: আমাদের বার্তার আশেপাশে প্ল্যাটফর্ম যে লেবেল দেখায়

# WhatsApp-এ বিকল্পের তালিকা খোলার বোতাম (২০ অক্ষরের মধ্যে)।
meta-list-button = বিকল্প দেখুন
# Messenger: একটি বার্তায় সব বোতাম না ধরলে পরের বোতামগুলোর উপরের লাইন।
meta-more-options = আরও বিকল্প:
# Messenger-এর স্বাগত পর্দার শুভেচ্ছা, ব্যবহারকারী লেখার আগে (১৬০ অক্ষরের মধ্যে)।
meta-greeting = আপনার পণ্যের একটি ছবি পাঠান, আর পেয়ে যান Facebook, Instagram ও মার্কেটপ্লেসের জন্য স্টুডিও মানের ছবি।
# Messenger-এর স্থায়ী মেনু (প্রতিটি ৩০ অক্ষরের মধ্যে)।
meta-menu-help = সাহায্য
meta-menu-credits = আমার ক্রেডিট
meta-menu-history = আমার ছবি
meta-menu-language = ভাষা / Language
